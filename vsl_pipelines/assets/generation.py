"""Generation assets: each request asset submits what is missing, each collecting asset stores outputs.

keyframe_requests -> keyframes -> clip_requests -> clips ; soundtrack_request -> soundtrack
"""

from typing import Any

import dagster as dg

from vsl_pipelines.assets.metadata import thumbnails_markdown
from vsl_pipelines.db.connection import connect
from vsl_pipelines.generation.collect import CollectReport, collect_stage, review_ready
from vsl_pipelines.generation.submit import SubmitReport, submit_missing_predictions
from vsl_pipelines.partitions import scripts_partitions
from vsl_pipelines.resources.database import DatabaseResource
from vsl_pipelines.resources.media_store import MediaStoreResource
from vsl_pipelines.resources.registry import RegistryResource
from vsl_pipelines.resources.replicate import ReplicateResource

NO_FAILED = "no_failed_or_expired_generations"


def _submit(
    context: dg.AssetExecutionContext,
    stage: str,
    database: DatabaseResource,
    replicate: ReplicateResource,
    registry: RegistryResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    script_id = context.partition_key
    report: SubmitReport = submit_missing_predictions(
        database.resolved_url(),
        replicate.client(),
        registry.registry(),
        media_store.store(),
        script_id,
        stage,
    )
    context.log.info(
        f"{stage}: submitted {len(report.submitted)}, recovered {len(report.recovered)}"
    )
    metadata: dict[str, Any] = {
        "submitted": len(report.submitted),
        "recovered_after_crash": len(report.recovered),
        "already_active": report.skipped_active,
        "already_done": report.skipped_done,
        "estimated_cost_usd": round(report.estimated_cost_usd, 4),
        "predictions": dg.MetadataValue.json(report.submitted + report.recovered),
    }
    if stage == "clip":
        metadata["waiting_for_keyframe"] = report.waiting_for_keyframe
    return dg.MaterializeResult(metadata=metadata)


def _collect(
    context: dg.AssetExecutionContext,
    stage: str,
    database: DatabaseResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    script_id = context.partition_key
    url = database.resolved_url()
    store = media_store.store()
    report: CollectReport = collect_stage(url, store, script_id, stage)
    if stage in ("clip", "soundtrack") and review_ready(url, script_id):
        with connect(url) as conn:
            conn.execute(
                "UPDATE scripts SET status = 'review', updated_at = now()"
                " WHERE id = %s AND status IN ('queued', 'generating')",
                (script_id,),
            )
    bad = len(report.failed) + len(report.expired)
    return dg.MaterializeResult(
        metadata={
            "takes_stored": len(report.takes),
            "still_waiting": report.waiting,
            "failed": len(report.failed),
            "expired": len(report.expired),
            "total_duration_s": round(sum(t["duration_s"] or 0 for t in report.takes), 3),
            "files": dg.MetadataValue.json([t["key"] for t in report.takes]),
            "takes": thumbnails_markdown(store, report.takes),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=NO_FAILED,
                passed=bad == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "failed": dg.MetadataValue.json(report.failed),
                    "expired_job_ids": dg.MetadataValue.json(report.expired),
                },
                description="Failed or expired predictions are resubmitted by the request asset.",
            )
        ],
    )


REQUESTS = {"replicate"}
COLLECTING = {"ffmpeg"}


def _check(asset_name: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            NO_FAILED,
            asset=asset_name,
            description="No prediction of this stage failed or expired.",
        )
    ]


@dg.asset(partitions_def=scripts_partitions, group_name="generation", kinds=REQUESTS)
def keyframe_requests(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    replicate: ReplicateResource,
    registry: RegistryResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    """Submits the keyframe image predictions that sections' current takes still need."""
    return _submit(context, "keyframe", database, replicate, registry, media_store)


@dg.asset(
    deps=[keyframe_requests],
    check_specs=_check("keyframes"),
    partitions_def=scripts_partitions,
    group_name="generation",
    kinds=COLLECTING,
)
def keyframes(
    context: dg.AssetExecutionContext, database: DatabaseResource, media_store: MediaStoreResource
) -> dg.MaterializeResult:
    """Downloads finished keyframes into the media store, probed, with thumbnails."""
    return _collect(context, "keyframe", database, media_store)


@dg.asset(
    deps=[keyframes], partitions_def=scripts_partitions, group_name="generation", kinds=REQUESTS
)
def clip_requests(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    replicate: ReplicateResource,
    registry: RegistryResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    """Submits clip predictions (image-to-video from stored keyframes, or text-to-video)."""
    return _submit(context, "clip", database, replicate, registry, media_store)


@dg.asset(
    deps=[clip_requests],
    check_specs=_check("clips"),
    partitions_def=scripts_partitions,
    group_name="generation",
    kinds=COLLECTING,
)
def clips(
    context: dg.AssetExecutionContext, database: DatabaseResource, media_store: MediaStoreResource
) -> dg.MaterializeResult:
    """Stores finished section clips and renders still sections locally; one take per section."""
    return _collect(context, "clip", database, media_store)


@dg.asset(partitions_def=scripts_partitions, group_name="generation", kinds=REQUESTS)
def soundtrack_request(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    replicate: ReplicateResource,
    registry: RegistryResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    """Submits the script's soundtrack prediction, if it has one."""
    return _submit(context, "soundtrack", database, replicate, registry, media_store)


@dg.asset(
    deps=[soundtrack_request],
    check_specs=_check("soundtrack"),
    partitions_def=scripts_partitions,
    group_name="generation",
    kinds=COLLECTING,
)
def soundtrack(
    context: dg.AssetExecutionContext, database: DatabaseResource, media_store: MediaStoreResource
) -> dg.MaterializeResult:
    """Stores the finished soundtrack in the media store."""
    return _collect(context, "soundtrack", database, media_store)
