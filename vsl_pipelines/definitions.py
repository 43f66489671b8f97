"""The one place that wires assets, checks, sensors, schedules and resources.

Resources come from settings: the embedded default (sandbox, local folder, embedded Postgres)
or production endpoints, chosen by environment variables, never by branches in assets.
"""

from __future__ import annotations

import dagster as dg

from vsl_pipelines.assets.compilation import compiled_video
from vsl_pipelines.assets.generation import (
    clip_requests,
    clips,
    keyframe_requests,
    keyframes,
    soundtrack,
    soundtrack_request,
)
from vsl_pipelines.jobs import JOB_FOR_STEP, compile_job
from vsl_pipelines.logs import configure_logging
from vsl_pipelines.resources.database import DatabaseResource
from vsl_pipelines.resources.inbox import InboxResource
from vsl_pipelines.resources.media_store import MediaStoreResource
from vsl_pipelines.resources.registry import RegistryResource
from vsl_pipelines.resources.replicate import ReplicateResource
from vsl_pipelines.sensors.approvals import approval_sensor
from vsl_pipelines.sensors.scripts import generation_schedule, script_partitions_sensor
from vsl_pipelines.sensors.webhooks import webhook_sensor
from vsl_pipelines.settings import Settings, get_settings

ASSETS = [
    keyframe_requests,
    keyframes,
    clip_requests,
    clips,
    soundtrack_request,
    soundtrack,
    compiled_video,
]


def resources_from_settings(settings: Settings) -> dict[str, object]:
    # The token reaches the resource as an env-var reference, so the UI never shows its value.
    token = dg.EnvVar("REPLICATE_API_TOKEN") if settings.replicate_api_token else None
    return {
        "database": DatabaseResource(url=settings.database_url or ""),
        "inbox": InboxResource(
            database_url=settings.database_url or "",
            dynamodb_table=settings.dynamodb_table,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
        ),
        "media_store": MediaStoreResource(
            root=str(settings.media_dir),
            public_base_url=settings.public_media_url,
            s3_bucket=settings.s3_bucket,
            s3_prefix=settings.s3_prefix,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
        ),
        "replicate": ReplicateResource(
            base_url=settings.replicate_client_base_url,
            api_token=token,
            webhook_url=settings.webhook_url,
            redis_url=settings.redis_url,
        ),
        "registry": RegistryResource(
            models_file=str(settings.models_file), models_config=settings.models_config
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    configure_logging(settings.log_level)
    return dg.Definitions(
        assets=ASSETS,
        jobs=[*JOB_FOR_STEP.values(), compile_job],
        sensors=[webhook_sensor, approval_sensor, script_partitions_sensor],
        schedules=[generation_schedule],
        resources=resources_from_settings(settings),
    )


defs = build_definitions(get_settings())
