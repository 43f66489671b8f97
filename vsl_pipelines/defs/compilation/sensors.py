"""The compile request sensor: one compile run for each requested compilation.

Requests come from the API (`POST /api/scripts/{id}/compile`) and from the approval sensor once
every section is approved; the run key is the compilation id, so each launches once.
"""

import dagster as dg

from vsl_pipelines.defs.compilation.jobs import compile_job
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.tags import COMPILATION, run_tags
from vsl_pipelines.services.compilation import requested_compilations


def compile_request_tick(database_url: str, batch: int) -> list[dg.RunRequest]:
    """A run request per compilation still `requested` (its run claims it: `running`)."""
    return [
        dg.RunRequest(
            run_key=f"compilation:{row['id']}",
            job_name=compile_job.name,
            partition_key=row["script_id"],
            tags={
                **run_tags(row["script_id"], "compile", requested_by=row["requested_by"]),
                COMPILATION: str(row["id"]),
            },
        )
        for row in requested_compilations(database_url, batch)
    ]


def build_compile_request_sensor(interval_s: int = 5) -> dg.SensorDefinition:
    """The compile request sensor, ticking every `interval_s` seconds."""

    @dg.sensor(
        name="compile_request_sensor",
        jobs=[compile_job],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def compile_request_sensor(
        context: dg.SensorEvaluationContext, database: DatabaseResource, pacing: PacingResource
    ) -> dg.SensorResult:
        """Launches the compile run of each requested compilation, once (run key)."""
        requests = compile_request_tick(database.resolved_url(), pacing.sensor_batch_size)
        return dg.SensorResult(run_requests=requests)

    return compile_request_sensor
