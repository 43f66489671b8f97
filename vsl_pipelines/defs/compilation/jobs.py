"""The compile run: the approved clips of one script into its final video."""

import dagster as dg

from vsl_pipelines.defs.partitions import scripts_partitions

compile_job = dg.define_asset_job(
    "compile",
    selection=["compiled_video"],
    partitions_def=scripts_partitions,
    description="Compile a fully approved script's clips and soundtrack into one video.",
    # On AWS the EcsRunLauncher gives each run a task of this size (other runs take the
    # instance's default, 1 vCPU and 2 GiB): FFmpeg encodes with every core it gets.
    tags={"ecs/cpu": "4096", "ecs/memory": "8192"},
)
