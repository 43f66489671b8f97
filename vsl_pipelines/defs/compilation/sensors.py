"""The compile request sensor: one compile run for each requested compilation.

Requests come from the API (`POST /api/scripts/{id}/compile`) and from the approval sensor once
every section is approved; the run key is the compilation id, so each launches once. A
compilation whose run died (the row says `running` with no run left to finish it) is failed
here, so the script may be compiled again.
"""

import dagster as dg

from vsl_pipelines.defs.compilation.jobs import compile_job
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.runs import run_alive, run_staleness
from vsl_pipelines.defs.tags import COMPILATION, run_tags
from vsl_pipelines.services.compilation import CompileRequests


def compile_request_tick(compiles: CompileRequests, batch: int) -> list[dg.RunRequest]:
    """A run request per compilation still `requested` (its run claims it: `running`)."""
    return [
        dg.RunRequest(
            run_key=f"compilation:{row.id}",
            job_name=compile_job.name,
            partition_key=row.script_id,
            tags={**run_tags(row.script_id, "compile"), COMPILATION: str(row.id)},
        )
        for row in compiles.requested(batch)
    ]


def release_dead_compilations(
    compiles: CompileRequests, instance: dg.DagsterInstance, batch: int, stale_after_s: float
) -> list[int]:
    """Fail each `running` compilation whose every run has ended without finishing it (killed,
    crashed; not one failed and waiting for the instance's retry), so a new compile can be
    requested; the ids released. A row with no tagged run (a plain materialization's) is left."""
    released = []
    stale = run_staleness(instance, stale_after_s)
    for row in compiles.running(batch):
        records = instance.get_run_records(
            filters=dg.RunsFilter(tags={COMPILATION: str(row.id)}), limit=10
        )
        if not records or any(run_alive(r, stale) for r in records):
            continue
        last = records[0].dagster_run
        reason = (
            f"the compile run {last.run_id} ended {last.status.value} without finishing it;"
            " request the compile again"
        )
        if compiles.release(row.id, reason):
            released.append(row.id)
    return released


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
        """Launches the compile run of each requested compilation, once (run key), and
        releases a compilation whose run died (it would block the script's next compile)."""
        compiles = CompileRequests(database.database())
        released = release_dead_compilations(
            compiles, context.instance, pacing.sensor_batch_size, pacing.stale_run_s
        )
        if released:
            context.log.warning(f"released compilations whose run died: {released}")
        requests = compile_request_tick(compiles, pacing.sensor_batch_size)
        return dg.SensorResult(run_requests=requests)

    return compile_request_sensor
