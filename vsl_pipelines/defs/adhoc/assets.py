"""Ad-hoc media (`POST /api/generate-media`): one asset partitioned by UTC day, never by job,
so the UI shows each day's count and cost; the webhook sensor asks for a day's run when its
predictions finish."""

from datetime import date
from typing import Any

import dagster as dg

from vsl_pipelines.defs.checks import failure_check_result
from vsl_pipelines.defs.partitions import days_to_today
from vsl_pipelines.defs.resources import DatabaseResource, JobStatusResource, MediaStoreResource
from vsl_pipelines.defs.tags import FFMPEG_POOL
from vsl_pipelines.generation.failure_checks import adhoc_check
from vsl_pipelines.services.generation import Collection

NONE_FAILED = "no_failed_or_expired_adhoc_media"


@dg.asset(
    partitions_def=days_to_today,
    group_name="adhoc",
    kinds={"replicate", "ffmpeg"},
    pool=FFMPEG_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            NONE_FAILED,
            asset="adhoc_media",
            description="No ad-hoc prediction collected in this run failed or expired.",
        )
    ],
)
def adhoc_media(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    media_store: MediaStoreResource,
    job_status: JobStatusResource,
) -> dg.MaterializeResult:
    """The day's one-off generations: finished outputs stored (probed, with thumbnails), the
    day's count and cost by model and user."""
    report = Collection(database.database(), media_store.store(), job_status.layers()).collect_day(
        date.fromisoformat(context.partition_key)
    )
    metadata: dict[str, Any] = {
        "stored_now": len(report.stored),
        "jobs": report.jobs,
        "completed": report.completed,
        "failed": report.failed_total,
        "waiting": report.waiting,
        "estimated_usd": report.estimated_usd,
        "actual_usd": report.actual_usd,
        "by_model": dg.MetadataValue.json(report.by_model),
        "by_user": dg.MetadataValue.json(report.by_user),
        "files": dg.MetadataValue.json([s["key"] for s in report.stored]),
    }
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[failure_check_result(NONE_FAILED, adhoc_check(report))],
    )


collect_adhoc_job = dg.define_asset_job(
    "collect_adhoc",
    selection=[adhoc_media],
    partitions_def=days_to_today,
    description="Store the day's finished ad-hoc generations.",
)
