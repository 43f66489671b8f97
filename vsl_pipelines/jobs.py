"""The runs sensors and schedules launch, one per step of the flow, each partitioned by script."""

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
from vsl_pipelines.partitions import scripts_partitions

generate_job = dg.define_asset_job(
    "generate",
    selection=[keyframe_requests, clip_requests, soundtrack_request],
    partitions_def=scripts_partitions,
    description="Submit every prediction the script's current takes still need.",
)
collect_keyframes_job = dg.define_asset_job(
    "collect_keyframes",
    selection=[keyframes, clip_requests],
    partitions_def=scripts_partitions,
    description="Store finished keyframes, then request the clips made from them.",
)
collect_clips_job = dg.define_asset_job(
    "collect_clips", selection=[clips], partitions_def=scripts_partitions
)
collect_soundtrack_job = dg.define_asset_job(
    "collect_soundtrack", selection=[soundtrack], partitions_def=scripts_partitions
)
compile_job = dg.define_asset_job(
    "compile", selection=[compiled_video], partitions_def=scripts_partitions
)

JOB_FOR_STEP = {
    "requests": generate_job,
    "keyframes": collect_keyframes_job,
    "clips": collect_clips_job,
    "soundtrack": collect_soundtrack_job,
}
