"""The media store resource: a local folder in the embedded setup (S3 implements the same interface)."""

from pathlib import Path

import dagster as dg

from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.storage.local import LocalMediaStore


class MediaStoreResource(dg.ConfigurableResource):
    root: str
    public_base_url: str

    def store(self) -> MediaStore:
        return LocalMediaStore(Path(self.root), self.public_base_url)
