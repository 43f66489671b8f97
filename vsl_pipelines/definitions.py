"""The one place that wires the Dagster layer (`vsl_pipelines/defs/`): assets, checks, jobs,
sensors, the schedule and resources, all configured from one `Settings`.

Resources come from settings: the embedded default (sandbox, local folder, embedded Postgres)
or production endpoints, chosen by environment variables, never by branches in assets.
"""

import os
from typing import Any

import dagster as dg

from vsl_pipelines.defs.adhoc.assets import adhoc_media, collect_adhoc_job
from vsl_pipelines.defs.compilation.assets import compiled_video
from vsl_pipelines.defs.compilation.jobs import compile_job
from vsl_pipelines.defs.compilation.sensors import build_compile_request_sensor
from vsl_pipelines.defs.costs.assets import cost_report, cost_report_job, cost_report_schedule
from vsl_pipelines.defs.generation.assets import generation_assets
from vsl_pipelines.defs.generation.jobs import JOB_FOR_STEP
from vsl_pipelines.defs.generation.schedules import build_generation_schedule
from vsl_pipelines.defs.generation.sensors import build_webhook_sensor
from vsl_pipelines.defs.resources import (
    DatabaseResource,
    InboxResource,
    JobStatusResource,
    MediaStoreResource,
    PacingResource,
    RegistryResource,
    ReplicateResource,
)
from vsl_pipelines.defs.review.sensors import build_approval_sensor
from vsl_pipelines.defs.scripts.sensors import build_script_partitions_sensor
from vsl_pipelines.defs.variants.assets import build_variant_report
from vsl_pipelines.logs import configure_logging
from vsl_pipelines.settings import Settings, get_settings

ASSETS = [*generation_assets, compiled_video, adhoc_media, cost_report]
JOBS = [*JOB_FOR_STEP.values(), compile_job, collect_adhoc_job, cost_report_job]


def resources_from_settings(settings: Settings) -> dict[str, Any]:
    # A token set in the environment reaches the resource as an env-var reference, so the UI
    # never shows its value; only the sandbox's well-known default is passed as it is.
    token: Any = settings.replicate_token.get_secret_value()
    for variable in ("REPLICATE_API_TOKEN", "VSL_SANDBOX_TOKEN"):
        if os.environ.get(variable) == token:
            token = dg.EnvVar(variable)
            break
    # Likewise the database URL, which may hold a password.
    database_url: Any = settings.database_url or ""
    if database_url and os.environ.get("DATABASE_URL") == database_url:
        database_url = dg.EnvVar("DATABASE_URL")
    database = DatabaseResource(url=database_url, data_dir=str(settings.data_dir))
    # And the Redis URL, which holds its AUTH token where Redis requires one.
    redis_url: Any = settings.redis_url
    if redis_url and os.environ.get("REDIS_URL") == redis_url:
        redis_url = dg.EnvVar("REDIS_URL")
    # The media URL secret, likewise by reference (unset: local media URLs are not signed).
    url_secret: Any = None
    if settings.media_url_secret is not None:
        secret = settings.media_url_secret.get_secret_value()
        variable = "VSL_MEDIA_SECRET" if settings.media_secret else "VSL_SESSION_SECRET"
        url_secret = dg.EnvVar(variable) if os.environ.get(variable) == secret else secret
    s3 = None
    if settings.s3_bucket:
        # Imported only with a bucket: dagster-aws costs every run's process a second to import.
        from dagster_aws.s3 import S3Resource

        s3 = S3Resource(endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)
    return {
        "database": database,
        "inbox": InboxResource(
            database=database,
            dynamodb_table=settings.dynamodb_table,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
        ),
        "media_store": MediaStoreResource(
            root=str(settings.media_dir),
            public_base_url=settings.public_media_url,
            s3_bucket=settings.s3_bucket,
            s3_prefix=settings.s3_prefix,
            s3=s3,
            url_secret=url_secret,
            cdn_url=settings.media_cdn_url,
        ),
        "replicate": ReplicateResource(
            base_url=settings.replicate_client_base_url,
            api_token=token,
            webhook_url=settings.webhook_url,
            redis_url=redis_url,
        ),
        "job_status": JobStatusResource(
            database=database,
            redis_url=redis_url,
            dynamodb_jobs_table=settings.dynamodb_jobs_table,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
        ),
        "registry": RegistryResource(
            models_file=str(settings.models_file), models_config=settings.models_config
        ),
        "pacing": PacingResource(
            sensor_batch_size=settings.sensor_batch_size,
            schedule_batch_size=settings.schedule_batch_size,
            late_webhook_s=settings.late_webhook_s,
            stale_run_s=settings.stale_run_s,
        ),
    }


def build_definitions(
    settings: Settings, resources: dict[str, Any] | None = None
) -> dg.Definitions:
    """Every definition, with sensor intervals and the schedule's cron from `settings`."""
    configure_logging(settings.log_level)
    variant_report, variant_job, variant_schedule = build_variant_report(
        settings.variant_min_viewers
    )
    return dg.Definitions(
        assets=[*ASSETS, variant_report],
        jobs=[*JOBS, variant_job],
        sensors=[
            build_webhook_sensor(settings.webhook_sensor_interval_s),
            build_approval_sensor(settings.approval_sensor_interval_s),
            build_compile_request_sensor(settings.compile_sensor_interval_s),
            build_script_partitions_sensor(settings.scripts_sensor_interval_s),
        ],
        schedules=[
            build_generation_schedule(settings.generation_schedule),
            cost_report_schedule,
            variant_schedule,
        ],
        resources=resources if resources is not None else resources_from_settings(settings),
        # Each run's steps in the run's own process: a run is one to three small steps, and a
        # process per step (Dagster's default) cost each run seconds of start-up.
        executor=dg.in_process_executor,
    )


defs = build_definitions(get_settings())
