"""The approval sensor: follows the append-only approval log by id.

A rejection starts a new take and launches generation for it; a script whose sections are
all approved launches `compiled_video`.
"""

import dagster as dg

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.connection import connect
from vsl_pipelines.jobs import compile_job, generate_job
from vsl_pipelines.resources.database import DatabaseResource
from vsl_pipelines.review import apply_rejection, unapproved_sections
from vsl_pipelines.settings import get_settings


def approval_tick(cursor: int, database_url: str, batch: int) -> tuple[list[dg.RunRequest], int]:
    requests: list[dg.RunRequest] = []
    approved: dict[str, int] = {}  # script -> its last approval read this tick
    with connect(database_url) as conn:
        decisions = approval_rows.decisions_after(conn, cursor, batch)
        for decision in decisions:
            script_id = decision["script_id"]
            tags = {"vsl/script_id": script_id, "vsl/approval_id": str(decision["id"])}
            if decision["decision"] == "rejected":
                take = apply_rejection(conn, decision)
                if take is not None:
                    script_rows.set_status(conn, script_id, "generating")
                    requests.append(
                        dg.RunRequest(
                            run_key=f"retake:{decision['id']}",
                            job_name=generate_job.name,
                            partition_key=script_id,
                            tags={
                                **tags,
                                "vsl/section": decision["section_id"],
                                "vsl/take": str(take),
                            },
                        )
                    )
            else:
                approved[script_id] = decision["id"]
        # One compile per fully approved script, however many approvals this tick read.
        for script_id, approval_id in approved.items():
            if not unapproved_sections(conn, script_id):
                requests.append(
                    dg.RunRequest(
                        run_key=f"compile:{script_id}:{approval_id}",
                        job_name=compile_job.name,
                        partition_key=script_id,
                        tags={"vsl/script_id": script_id, "vsl/approval_id": str(approval_id)},
                    )
                )
        conn.commit()
    new_cursor = decisions[-1]["id"] if decisions else cursor
    return requests, new_cursor


@dg.sensor(
    jobs=[generate_job, compile_job],
    minimum_interval_seconds=get_settings().approval_sensor_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def approval_sensor(
    context: dg.SensorEvaluationContext, database: DatabaseResource
) -> dg.SensorResult:
    """Launches a new take for each rejection and the compile once every section is approved."""
    requests, cursor = approval_tick(
        int(context.cursor or 0), database.resolved_url(), get_settings().sensor_batch_size
    )
    return dg.SensorResult(run_requests=requests, cursor=str(cursor))
