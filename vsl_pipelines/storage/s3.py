"""The production media store: objects in an S3 bucket under an optional prefix.

Collecting assets and `compiled_video` write through it; the generation backend reads
inputs from its presigned URLs; FFmpeg reads from `local_path` copies in a cache folder. With a
CDN in front of the bucket (`cdn_url`, CloudFront in the AWS stack), the final videos and their
delivery files are handed out at the CDN instead, unsigned and cached at its edge.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from vsl_pipelines.storage.base import (
    MEDIA_TAG,
    cache_control,
    content_type,
    is_final_key,
    media_kind,
)

_MIB = 1024 * 1024
# Parts are streamed from disk by s3transfer, so memory stays near chunksize x concurrency
# at worst (and far below it in practice), whatever the file size.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=8 * _MIB, multipart_chunksize=8 * _MIB, max_concurrency=4
)
_DOWNLOAD_CHUNK = _MIB
_MISSING = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId"}


class S3StoreError(RuntimeError):
    """An S3 call failed; the message names the bucket, key and S3 error code, never credentials."""

    def __init__(self, message: str, *, bucket: str, key: str | None, code: str = "") -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.code = code


class S3BucketNotFound(S3StoreError):
    """The configured bucket does not exist (or is not visible to these credentials)."""


class S3AccessDenied(S3StoreError, PermissionError):
    """The credentials may not perform the call on this bucket or key."""


class S3MediaStore:
    """`MediaStore` on S3: managed multipart uploads, presigned GET URLs (a script's final
    objects at `cdn_url` when set), an ETag-checked cache."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        presign_ttl_s: int = 3600,
        cache_dir: Path | None = None,
        transfer_config: TransferConfig = DEFAULT_TRANSFER,
        cdn_url: str = "",
    ) -> None:
        self.bucket = bucket
        # The CDN's origin is the bucket itself: an object's path there is its whole key.
        self.cdn_url = cdn_url.rstrip("/")
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(signature_version="s3v4"),  # presigned URLs: SigV2 is deprecated
        )
        self.presign_ttl_s = presign_ttl_s
        self.cache_dir = Path(
            cache_dir or Path(tempfile.gettempdir()) / "vsl-media-cache" / bucket
        ).resolve()
        self.transfer_config = transfer_config

    def put_file(self, key: str, source: Path) -> str:
        object_key = self._object_key(key)
        cache = cache_control(key)
        # A single PUT and a CompleteMultipartUpload are both atomic in S3: readers see the
        # previous object or the whole new one, never a partial upload.
        with self._errors(key):
            self.client.upload_file(
                str(source),
                self.bucket,
                object_key,
                ExtraArgs={
                    "ContentType": content_type(key),
                    # What it is, for lifecycle rules (`base.media_kind`).
                    "Tagging": f"{MEDIA_TAG}={media_kind(key)}",
                    **({"CacheControl": cache} if cache else {}),
                },
                Config=self.transfer_config,
            )
        return self.uri(key)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def local_path(self, key: str) -> Path:
        """A cached copy under `cache_dir/<prefix>/<key>`, downloaded again only when the object changed."""
        target = self._cache_path(key)
        meta_path = target.with_name(f".{target.name}.s3meta")
        for _ in range(3):
            head = self._head(key)
            current = {"etag": head["ETag"], "size": int(head["ContentLength"])}
            if target.is_file() and target.stat().st_size == current["size"]:
                try:
                    if json.loads(meta_path.read_text()) == current:
                        return target
                except (OSError, ValueError):
                    pass
            if self._download(key, current["etag"], target):
                meta_path.write_text(json.dumps(current))
                return target
        raise S3StoreError(
            f"s3://{self.bucket}/{self._object_key(key)} kept changing while it was downloaded",
            bucket=self.bucket,
            key=key,
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def public_url(self, key: str) -> str:
        """`{cdn_url}/{object key}` for a script's final objects when a CDN serves them (the
        bucket lets it read those alone), else a presigned URL valid `presign_ttl_s`."""
        if self.cdn_url and is_final_key(key):
            return f"{self.cdn_url}/{quote(self._object_key(key))}"
        with self._errors(key):
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._object_key(key)},
                ExpiresIn=self.presign_ttl_s,
            )
        return url

    def cdn_base(self, prefix: str) -> str | None:
        """`{cdn_url}/{object prefix}` when `prefix` is a script's final prefix and a CDN serves
        it (an object below is at `{base}/{rest of its key}`, as `public_url` gives it), else
        None."""
        prefix = prefix.rstrip("/")
        if not self.cdn_url or not is_final_key(f"{prefix}/_"):
            return None
        return f"{self.cdn_url}/{quote(self._object_key(prefix))}"

    def _object_key(self, key: str) -> str:
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or ".." in parts or "." in key.split("/"):
            raise ValueError(f"media key {key!r} is not a relative path inside the store")
        return f"{self.prefix}{key}"

    def _cache_path(self, key: str) -> Path:
        path = (self.cache_dir / self._object_key(key)).resolve()
        if not path.is_relative_to(self.cache_dir):
            raise ValueError(f"media key {key!r} leaves the cache folder")
        return path

    def _head(self, key: str) -> dict[str, Any]:
        """The object's metadata; FileNotFoundError when the key (not the bucket) is missing."""
        try:
            with self._errors(key):
                head: dict[str, Any] = self.client.head_object(
                    Bucket=self.bucket, Key=self._object_key(key)
                )
                return head
        except FileNotFoundError:
            self._check_bucket(key)  # HEAD has no error body: a 404 may mean a missing bucket
            raise

    def _check_bucket(self, key: str) -> None:
        try:
            with self._errors(key):
                self.client.head_bucket(Bucket=self.bucket)
        except FileNotFoundError:
            raise S3BucketNotFound(
                f"S3 bucket {self.bucket!r} does not exist (while accessing key {key!r})",
                bucket=self.bucket,
                key=key,
                code="NoSuchBucket",
            ) from None

    def _download(self, key: str, etag: str, target: Path) -> bool:
        """Stream the object version `etag` to `target` atomically; False if it changed meanwhile."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with self._errors(key):
                        response = self.client.get_object(
                            Bucket=self.bucket, Key=self._object_key(key), IfMatch=etag
                        )
                except S3StoreError as exc:
                    if exc.code in {"412", "PreconditionFailed"}:
                        return False
                    raise
                body = response["Body"]
                for chunk in body.iter_chunks(_DOWNLOAD_CHUNK):
                    out.write(chunk)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """Turn botocore errors into exceptions that name the bucket and key (and nothing secret)."""
        where = f"s3://{self.bucket}/{self.prefix}{key}"
        try:
            yield
        except S3UploadFailedError as exc:
            # boto3 raises it while handling the ClientError, without `from`.
            client_error = exc.__cause__ or exc.__context__
            if not isinstance(client_error, ClientError):
                raise S3StoreError(
                    f"upload to {where} failed", bucket=self.bucket, key=key
                ) from None
            raise self._translate(client_error, key, where) from None
        except ClientError as exc:
            raise self._translate(exc, key, where) from None
        except BotoCoreError as exc:
            raise S3StoreError(
                f"S3 request for {where} failed: {exc}", bucket=self.bucket, key=key
            ) from None

    def _translate(self, exc: ClientError, key: str, where: str) -> Exception:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _NO_BUCKET:
            return S3BucketNotFound(
                f"S3 bucket {self.bucket!r} does not exist (while accessing key {key!r})",
                bucket=self.bucket,
                key=key,
                code=code,
            )
        if code in _MISSING:
            return FileNotFoundError(f"media {key!r} is not in {where}")
        if code in _DENIED or status == 403:
            return S3AccessDenied(
                f"access denied to {where} (S3 error {code}); check the bucket policy and IAM role",
                bucket=self.bucket,
                key=key,
                code=code,
            )
        return S3StoreError(
            f"S3 error {code} (HTTP {status}) on {where}", bucket=self.bucket, key=key, code=code
        )
