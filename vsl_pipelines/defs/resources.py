"""Dagster resources: each carries its own configuration and hands out the implementation it
names (a local folder or S3, Postgres or DynamoDB), so assets and sensors never branch on it."""

from pathlib import Path
from typing import TYPE_CHECKING, cast

import dagster as dg

from vsl_pipelines.cache import RateLimiter, rate_limiter_from_url
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.embedded import embedded_database_url
from vsl_pipelines.domain.registry import Registry, load_registry
from vsl_pipelines.inbox import WebhookInbox, make_inbox
from vsl_pipelines.job_status.layers import JobStatusLayers, make_status_layers
from vsl_pipelines.storage import MediaStore, make_media_store
from vsl_pipelines.storage.signing import MediaUrlSigner

if TYPE_CHECKING:
    from dagster_aws.s3 import S3Resource

    from vsl_pipelines.generation.predictions import PredictionClient


class DatabaseResource(dg.ConfigurableResource):
    """PostgreSQL: `url` (given as `EnvVar("DATABASE_URL")`, so the UI never shows it), or
    (empty) the embedded server under `data_dir`."""

    url: str = ""
    data_dir: str = "data"

    def database(self) -> Database:
        return Database(self.url or embedded_database_url(Path(self.data_dir)))


class InboxResource(dg.ConfigurableResource):
    """The webhook inbox: the Postgres table of `database`, or DynamoDB when a table name is
    set."""

    database: DatabaseResource
    dynamodb_table: str | None = None
    aws_endpoint_url: str | None = None
    aws_region: str | None = None

    def inbox(self) -> WebhookInbox:
        return make_inbox(
            db=self.database.database(),
            dynamodb_table=self.dynamodb_table,
            endpoint_url=self.aws_endpoint_url,
            region=self.aws_region,
        )


class MediaStoreResource(dg.ConfigurableResource):
    """The media store: a local folder, or S3 (its client from dagster-aws' `S3Resource`) when
    a bucket is set, a script's final objects handed out at `cdn_url` when set (so the compiled
    video's link in the UI is the CDN's, not a presigned URL that expires)."""

    root: str
    public_base_url: str
    s3_bucket: str | None = None
    s3_prefix: str = ""
    # dagster-aws' `S3Resource`, needed only with a bucket. Typed by its base class so that the
    # embedded default never imports dagster-aws: its package import costs every run's process
    # about a second of start-up.
    s3: dg.ConfigurableResource | None = None
    # Signs the local folder's URLs (generation inputs fetched by URL): the service's secret.
    url_secret: str | None = None
    # `VSL_MEDIA_CDN_URL`, as the service takes it.
    cdn_url: str = ""

    def store(self) -> MediaStore:
        s3_client = None
        if self.s3_bucket:
            if self.s3 is None:
                raise ValueError("an S3 bucket needs the `s3` resource (dagster-aws' S3Resource)")
            s3_client = cast("S3Resource", self.s3).get_client()
            # dagster-aws builds its client without a signature version, so botocore presigns
            # with SigV2, which buckets made since mid-2020 refuse: SigV4, as the service's
            # own store (botocore's choose-signer event; "-query" is added for a URL).
            s3_client.meta.events.register("choose-signer.s3.*", _sigv4)
        return make_media_store(
            root=Path(self.root),
            public_base_url=self.public_base_url,
            s3_bucket=self.s3_bucket,
            s3_prefix=self.s3_prefix,
            s3_client=s3_client,
            signer=MediaUrlSigner(self.url_secret) if self.url_secret else None,
            cdn_url=self.cdn_url,
        )


def _sigv4(**_: object) -> str:
    return "s3v4"


class RegistryResource(dg.ConfigurableResource):
    """The model registry: `config/models.json` plus the `MODELS_CONFIG` override."""

    models_file: str
    models_config: str | None = None

    def registry(self) -> Registry:
        return load_registry(Path(self.models_file), self.models_config)


class ReplicateResource(dg.ConfigurableResource):
    """The real `replicate` client, pointed at Replicate or the sandbox; with `redis_url` every
    call takes a permit from the shared rate limiter."""

    base_url: str
    api_token: str | None = None
    webhook_url: str | None = None
    max_attempts: int = 6
    base_delay_s: float = 0.5
    redis_url: str | None = None

    def client(self) -> "PredictionClient":
        # Imported here: replicate (and httpx) only in the processes that call Replicate.
        from vsl_pipelines.generation.predictions import PredictionClient

        return PredictionClient(
            self.base_url,
            self.api_token,
            self.webhook_url,
            max_attempts=self.max_attempts,
            base_delay_s=self.base_delay_s,
            rate_limiter=self.rate_limiter(),
        )

    def rate_limiter(self) -> RateLimiter:
        return rate_limiter_from_url(self.redis_url)


class JobStatusResource(dg.ConfigurableResource):
    """Where job status documents are published: Redis (`redis_url`) and the DynamoDB jobs
    table (`dynamodb_jobs_table`), each when set."""

    database: DatabaseResource
    redis_url: str | None = None
    redis_prefix: str = "vsl:"
    dynamodb_jobs_table: str | None = None
    aws_endpoint_url: str | None = None
    aws_region: str | None = None

    def layers(self) -> JobStatusLayers:
        """Every configured layer over the database (none configured: publishing does nothing)."""
        return make_status_layers(
            self.database.database(),
            redis_url=self.redis_url,
            redis_prefix=self.redis_prefix,
            jobs_table=self.dynamodb_jobs_table,
            endpoint_url=self.aws_endpoint_url,
            region=self.aws_region,
        )


class PacingResource(dg.ConfigurableResource):
    """How much each sensor and schedule tick takes on, and when a job or run counts as late."""

    sensor_batch_size: int = 200
    schedule_batch_size: int = 10
    late_webhook_s: float = 120.0
    stale_run_s: float = 900.0
