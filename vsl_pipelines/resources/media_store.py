"""The media store resource: a local folder in the embedded setup, S3 when a bucket is set."""

from pathlib import Path

import dagster as dg

from vsl_pipelines.backends import make_media_store
from vsl_pipelines.storage.base import MediaStore


class MediaStoreResource(dg.ConfigurableResource):
    root: str
    public_base_url: str
    s3_bucket: str | None = None
    s3_prefix: str = ""
    aws_endpoint_url: str | None = None
    aws_region: str | None = None

    def store(self) -> MediaStore:
        return make_media_store(
            root=Path(self.root),
            public_base_url=self.public_base_url,
            s3_bucket=self.s3_bucket,
            s3_prefix=self.s3_prefix,
            endpoint_url=self.aws_endpoint_url,
            region=self.aws_region,
        )
