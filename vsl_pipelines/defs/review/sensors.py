"""The approval sensor: follows the append-only approval log by id.

A rejection starts a new take (of the section's clip, or of its narration alone) and launches
generation for it; a script whose sections are all approved (clips and narrations) gets its
compile request (the compile request sensor launches `compiled_video`).
"""

import dagster as dg

from vsl_pipelines.defs.generation.jobs import generate_job
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.tags import run_tags
from vsl_pipelines.services.review import Review


def approval_tick(cursor: int, review: Review, batch: int) -> tuple[list[dg.RunRequest], int]:
    """One tick: (run requests, new cursor). One generation run per script however many of
    its takes the batch rejected: a run asks for every prediction the script's current takes
    lack, so a second would only race the first for the same ones."""
    decisions = review.act_after(cursor, batch)
    last = {retake.script_id: retake.approval_id for retake in decisions.retakes}
    requests = [
        dg.RunRequest(
            run_key=f"retake:{approval_id}",
            job_name=generate_job.name,
            partition_key=script_id,
            tags=run_tags(script_id, "requests"),
        )
        for script_id, approval_id in last.items()
    ]
    return requests, decisions.cursor


def build_approval_sensor(interval_s: int = 5) -> dg.SensorDefinition:
    """The approval sensor, ticking every `interval_s` seconds."""

    @dg.sensor(
        name="approval_sensor",
        jobs=[generate_job],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def approval_sensor(
        context: dg.SensorEvaluationContext, database: DatabaseResource, pacing: PacingResource
    ) -> dg.SensorResult:
        """Launches a new take for each rejection; requests the compile once every section is
        approved."""
        requests, cursor = approval_tick(
            int(context.cursor or 0), Review(database.database()), pacing.sensor_batch_size
        )
        return dg.SensorResult(run_requests=requests, cursor=str(cursor))

    return approval_sensor
