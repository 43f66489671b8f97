"""The batch schedule: generation starts for a batch of queued scripts at each tick."""

import dagster as dg

from vsl_pipelines.defs.generation.jobs import generate_job
from vsl_pipelines.defs.partitions import known_scripts
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.tags import run_tags
from vsl_pipelines.services.intake import queued_batch


def build_generation_schedule(cron: str = "*/5 * * * *") -> dg.ScheduleDefinition:
    """The generation schedule on `cron`."""

    @dg.schedule(
        name="generation_schedule",
        cron_schedule=cron,
        job=generate_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def generation_schedule(
        context: dg.ScheduleEvaluationContext, database: DatabaseResource, pacing: PacingResource
    ) -> list[dg.RunRequest]:
        """Launches generation for a batch of queued scripts."""
        batch = queued_batch(
            database.database(), known_scripts(context.instance), pacing.schedule_batch_size
        )
        return [
            dg.RunRequest(
                run_key=q.run_key, partition_key=q.script_id, tags=run_tags(q.script_id, "requests")
            )
            for q in batch
        ]

    return generation_schedule
