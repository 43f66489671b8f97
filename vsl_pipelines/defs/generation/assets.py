"""Generation assets, three stages built by one factory: each stage's request asset submits
what the current takes still need, its collecting asset stores finished outputs.

keyframe_requests -> keyframes -> clip_requests -> clips ; soundtrack_request -> soundtrack ;
narration_requests -> narrations (sections spoken by the script's voice, when it has one)
"""

from dataclasses import dataclass
from typing import Any

import dagster as dg

from vsl_pipelines.defs.checks import failure_check_result
from vsl_pipelines.defs.metadata import thumbnails_markdown
from vsl_pipelines.defs.partitions import scripts_partitions
from vsl_pipelines.defs.resources import (
    DatabaseResource,
    JobStatusResource,
    MediaStoreResource,
    RegistryResource,
    ReplicateResource,
)
from vsl_pipelines.defs.tags import FFMPEG_POOL, REPLICATE_POOL
from vsl_pipelines.domain.stages import Stage
from vsl_pipelines.generation.failure_checks import stage_check
from vsl_pipelines.services.generation import Collection, Submission
from vsl_pipelines.services.notifications import Notifier, StudioLinks
from vsl_pipelines.services.prediction_failures import failed_predictions

NO_FAILED = "no_failed_or_expired_generations"


@dataclass(frozen=True)
class StageAssets:
    """One generation stage's pair of assets and what the UI says of each."""

    stage: Stage
    requests_doc: str
    collected_doc: str
    after: Stage | None = None  # a stage whose collected outputs the requests need


STAGE_ASSETS = (
    StageAssets(
        Stage.KEYFRAME,
        "Submits the keyframe image predictions that sections' current takes still need.",
        "Downloads finished keyframes into the media store, probed, with thumbnails.",
    ),
    StageAssets(
        Stage.CLIP,
        "Submits clip predictions (image-to-video from stored keyframes, or text-to-video).",
        "Stores finished section clips and renders still sections locally; one take per section.",
        after=Stage.KEYFRAME,
    ),
    StageAssets(
        Stage.SOUNDTRACK,
        "Submits the script's soundtrack prediction, if it has one.",
        "Stores the finished soundtrack in the media store.",
    ),
    StageAssets(
        Stage.NARRATION,
        "Submits text-to-speech predictions of the sections' narration, when the script has a voice.",
        "Stores each section's spoken narration (a WAV) for its current take, probed.",
    ),
)


def build_stage_assets(assets: StageAssets) -> list[dg.AssetsDefinition]:
    """The request asset and the collecting asset of one stage."""
    stage = assets.stage

    @dg.asset(
        name=stage.requests_asset,
        deps=[assets.after.collected_asset] if assets.after else [],
        partitions_def=scripts_partitions,
        group_name="generation",
        kinds={"replicate"},
        pool=REPLICATE_POOL,
        description=assets.requests_doc,
    )
    def requests(
        context: dg.AssetExecutionContext,
        database: DatabaseResource,
        replicate: ReplicateResource,
        registry: RegistryResource,
        media_store: MediaStoreResource,
        job_status: JobStatusResource,
    ) -> dg.MaterializeResult:
        db = database.database()
        # Each failed attempt shows on its take's asset and partition as it is tried again.
        failures = failed_predictions(db, context.partition_key, stage.value)
        for failure in failures:
            context.log_event(
                dg.AssetObservation(
                    asset_key=stage.collected_asset,
                    partition=context.partition_key,
                    description=failure.describe(),
                    metadata=failure.metadata(),
                )
            )
        report = Submission(
            db, replicate.client(), registry.registry(), media_store.store(), job_status.layers()
        ).submit(context.partition_key, stage.value)
        context.log.info(
            f"{stage}: submitted {len(report.submitted)}, recovered {len(report.recovered)}"
        )
        metadata: dict[str, Any] = {
            "submitted": len(report.submitted),
            "recovered_after_crash": len(report.recovered),
            "already_active": report.skipped_active,
            "already_done": report.skipped_done,
            "estimated_cost_usd": round(report.estimated_cost_usd, 6),
            "predictions": dg.MetadataValue.json(report.submitted + report.recovered),
            "failed_attempts_resubmitted": sum(1 for f in failures if f.retried),
        }
        if assets.after:
            metadata["waiting_for_keyframe"] = report.waiting_for_keyframe
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        name=stage.collected_asset,
        deps=[requests],
        check_specs=[
            dg.AssetCheckSpec(
                NO_FAILED,
                asset=stage.collected_asset,
                description="No prediction of this stage failed or expired.",
            )
        ],
        partitions_def=scripts_partitions,
        group_name="generation",
        kinds={"ffmpeg"},
        pool=FFMPEG_POOL,
        description=assets.collected_doc,
    )
    def collected(
        context: dg.AssetExecutionContext,
        database: DatabaseResource,
        media_store: MediaStoreResource,
        job_status: JobStatusResource,
    ) -> dg.MaterializeResult:
        store = media_store.store()
        db = database.database()
        collected = Collection(db, store, job_status.layers()).collect(
            context.partition_key, stage.value
        )
        report, previews = collected.report, collected.previews
        status = "review" if collected.in_review else report.script_status
        notified = None
        if collected.in_review:  # this batch of takes completed the set: people may decide
            links = StudioLinks.from_media_url(media_store.public_base_url)
            notified = Notifier(db, links).decisions_waiting(context.partition_key)
        return dg.MaterializeResult(
            metadata={
                "script_status": status,
                **({"script_error": report.script_error} if report.script_error else {}),
                **({"notification": notified.describe()} if notified else {}),
                "takes_stored": len(report.takes),
                "still_waiting": report.waiting,
                "failed": len(report.failed),
                "expired": len(report.expired),
                "total_duration_s": round(sum(t["duration_s"] or 0 for t in report.takes), 3),
                "files": dg.MetadataValue.json([t["key"] for t in report.takes]),
                "previews": dg.MetadataValue.json(previews),
                "takes": thumbnails_markdown(store, report.takes),
            },
            check_results=[failure_check_result(NO_FAILED, stage_check(report, status))],
        )

    return [requests, collected]


generation_assets = [asset for stage in STAGE_ASSETS for asset in build_stage_assets(stage)]
GENERATION_ASSETS = {asset.key.to_user_string(): asset for asset in generation_assets}
