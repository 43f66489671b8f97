"""The local-folder media store used by the embedded setup; files are served by `vsl serve`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

from vsl_pipelines.storage.signing import MediaUrlSigner


class LocalMediaStore:
    """Files under `root`, served by `vsl serve` at `public_base_url`; with a `signer`, every
    public URL carries its signature (`GET /media` refuses one without)."""

    def __init__(
        self, root: Path, public_base_url: str, signer: MediaUrlSigner | None = None
    ) -> None:
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/")
        self.signer = signer

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"media key {key!r} leaves the media folder")
        return path

    def put_file(self, key: str, source: Path) -> str:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.uri(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"media {key!r} is not in {self.root}")
        return path

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def public_url(self, key: str) -> str:
        url = f"{self.public_base_url}/{key}"
        if self.signer is None:
            return url
        return f"{url}?sig={quote(self.signer.token(key), safe='')}"

    def cdn_base(self, prefix: str) -> str | None:
        """None: the local folder has no CDN in front of it."""
        return None
