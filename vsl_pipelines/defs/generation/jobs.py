"""The generation runs: one job per step of the flow, each partitioned by script."""

import dagster as dg

from vsl_pipelines.defs.partitions import scripts_partitions
from vsl_pipelines.domain.stages import REQUESTS_STEP, Stage

STEP_TAG = "vsl/step"  # the instance's per-step concurrency limit keys on it

generate_job = dg.define_asset_job(
    "generate",
    selection=[stage.requests_asset for stage in Stage],
    partitions_def=scripts_partitions,
    description="Submit every prediction the script's current takes still need.",
)
collect_keyframes_job = dg.define_asset_job(
    "collect_keyframes",
    selection=[Stage.KEYFRAME.collected_asset, Stage.CLIP.requests_asset],
    partitions_def=scripts_partitions,
    description="Store finished keyframes, then request the clips made from them.",
)
collect_clips_job = dg.define_asset_job(
    "collect_clips",
    selection=[Stage.CLIP.collected_asset],
    partitions_def=scripts_partitions,
    description="Store finished clips and render still sections.",
)
collect_soundtrack_job = dg.define_asset_job(
    "collect_soundtrack",
    selection=[Stage.SOUNDTRACK.collected_asset],
    partitions_def=scripts_partitions,
    description="Store the finished soundtrack.",
)
collect_narrations_job = dg.define_asset_job(
    "collect_narrations",
    selection=[Stage.NARRATION.collected_asset],
    partitions_def=scripts_partitions,
    description="Store the sections' finished narration.",
)

JOB_FOR_STEP = {
    REQUESTS_STEP: generate_job,
    Stage.KEYFRAME.step: collect_keyframes_job,
    Stage.CLIP.step: collect_clips_job,
    Stage.SOUNDTRACK.step: collect_soundtrack_job,
    Stage.NARRATION.step: collect_narrations_job,
}
