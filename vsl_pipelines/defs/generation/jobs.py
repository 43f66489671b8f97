"""The generation runs: one job per step of the flow, each partitioned by script."""

import dagster as dg

from vsl_pipelines.defs.partitions import scripts_partitions

STEP_TAG = "vsl/step"  # the instance's per-step concurrency limit keys on it

generate_job = dg.define_asset_job(
    "generate",
    selection=["keyframe_requests", "clip_requests", "soundtrack_request", "narration_requests"],
    partitions_def=scripts_partitions,
    description="Submit every prediction the script's current takes still need.",
)
collect_keyframes_job = dg.define_asset_job(
    "collect_keyframes",
    selection=["keyframes", "clip_requests"],
    partitions_def=scripts_partitions,
    description="Store finished keyframes, then request the clips made from them.",
)
collect_clips_job = dg.define_asset_job(
    "collect_clips",
    selection=["clips"],
    partitions_def=scripts_partitions,
    description="Store finished clips and render still sections.",
)
collect_soundtrack_job = dg.define_asset_job(
    "collect_soundtrack",
    selection=["soundtrack"],
    partitions_def=scripts_partitions,
    description="Store the finished soundtrack.",
)
collect_narrations_job = dg.define_asset_job(
    "collect_narrations",
    selection=["narrations"],
    partitions_def=scripts_partitions,
    description="Store the sections' finished narration.",
)

JOB_FOR_STEP = {
    "requests": generate_job,
    "keyframes": collect_keyframes_job,
    "clips": collect_clips_job,
    "soundtrack": collect_soundtrack_job,
    "narrations": collect_narrations_job,
}
