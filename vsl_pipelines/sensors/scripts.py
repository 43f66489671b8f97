"""New scripts become partitions; a schedule launches generation for queued scripts in batches."""

import dagster as dg

from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.connection import connect
from vsl_pipelines.jobs import generate_job
from vsl_pipelines.partitions import scripts_partitions
from vsl_pipelines.resources.database import DatabaseResource
from vsl_pipelines.settings import get_settings


def unregistered_scripts(database_url: str, known: set[str]) -> list[str]:
    with connect(database_url) as conn:
        return [sid for sid in script_rows.script_ids(conn) if sid not in known]


@dg.sensor(
    minimum_interval_seconds=get_settings().scripts_sensor_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def script_partitions_sensor(
    context: dg.SensorEvaluationContext, database: DatabaseResource
) -> dg.SensorResult:
    """Registers every stored script as a partition (the known set is read once per tick)."""
    known = set(context.instance.get_dynamic_partitions(scripts_partitions.name or "scripts"))
    new = unregistered_scripts(database.resolved_url(), known)
    return dg.SensorResult(
        dynamic_partitions_requests=[scripts_partitions.build_add_request(new)] if new else []
    )


def queued_batch(database_url: str, known: set[str], batch: int) -> list[str]:
    with connect(database_url) as conn:
        return [sid for sid in script_rows.script_ids(conn, ("queued",)) if sid in known][:batch]


@dg.schedule(
    cron_schedule=get_settings().generation_schedule,
    job=generate_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def generation_schedule(
    context: dg.ScheduleEvaluationContext, database: DatabaseResource
) -> list[dg.RunRequest]:
    """Launches generation for a batch of queued scripts."""
    known = set(context.instance.get_dynamic_partitions(scripts_partitions.name or "scripts"))
    return [
        dg.RunRequest(run_key=f"generate:{sid}", partition_key=sid, tags={"vsl/script_id": sid})
        for sid in queued_batch(database.resolved_url(), known, get_settings().schedule_batch_size)
    ]
