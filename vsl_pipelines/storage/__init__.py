"""Where media lives: the `MediaStore` interface, a local folder or S3, chosen here from
configuration (a bucket name set means S3) so nothing else branches on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.storage.signing import MediaUrlSigner

__all__ = ["MediaStore", "make_media_store"]


def make_media_store(
    *,
    root: Path,
    public_base_url: str,
    s3_bucket: str | None = None,
    s3_prefix: str = "",
    endpoint_url: str | None = None,
    region: str | None = None,
    s3_client: Any = None,
    signer: MediaUrlSigner | None = None,
    cdn_url: str = "",
) -> MediaStore:
    """The S3 store when `s3_bucket` is set (on `s3_client`, or one made for the endpoint and
    region; a script's final objects handed out at `cdn_url` when set), else the local folder
    `root` served at `public_base_url`, its URLs signed by `signer` when given."""
    if s3_bucket:
        from vsl_pipelines.storage.s3 import S3MediaStore

        return S3MediaStore(
            s3_bucket,
            prefix=s3_prefix,
            client=s3_client,
            endpoint_url=endpoint_url,
            region=region,
            cache_dir=root / ".s3-cache",
            cdn_url=cdn_url,
        )
    from vsl_pipelines.storage.local import LocalMediaStore

    return LocalMediaStore(root, public_base_url, signer)
