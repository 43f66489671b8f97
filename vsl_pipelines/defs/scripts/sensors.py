"""New scripts become partitions of every asset, and their generation starts at once; so does
the generation of a script an edit queued again (only its changed sections regenerate)."""

import dagster as dg

from vsl_pipelines.defs.generation.jobs import generate_job
from vsl_pipelines.defs.partitions import known_scripts, scripts_partitions
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.tags import run_tags
from vsl_pipelines.services.intake import queued_batch, unregistered_scripts


def build_script_partitions_sensor(interval_s: int = 10) -> dg.SensorDefinition:
    """The sensor registering stored scripts as partitions, ticking every `interval_s` seconds."""

    @dg.sensor(
        name="script_partitions_sensor",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        job=generate_job,
    )
    def script_partitions_sensor(
        context: dg.SensorEvaluationContext, database: DatabaseResource, pacing: PacingResource
    ) -> dg.SensorResult:
        """Registers every stored script as a partition (the known set is read once per tick)
        and starts generation for up to a schedule batch of the new ones still queued and of
        those an edit queued again; the generation schedule takes the rest."""
        db = database.database()
        known = known_scripts(context.instance)
        new = unregistered_scripts(db, known)
        starting = queued_batch(db, set(new), pacing.schedule_batch_size) if new else []
        room = pacing.schedule_batch_size - len(starting)
        if room > 0:
            starting += queued_batch(db, known, room, edited_only=True)
        return dg.SensorResult(
            dynamic_partitions_requests=[scripts_partitions.build_add_request(new)] if new else [],
            run_requests=[
                dg.RunRequest(
                    run_key=q.run_key,
                    partition_key=q.script_id,
                    tags=run_tags(q.script_id, "requests"),
                )
                for q in starting
            ],
        )

    return script_partitions_sensor
