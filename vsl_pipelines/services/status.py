"""A script's state in one document: sections, takes, jobs, decisions, cost (`vsl scripts show`,
`GET /api/scripts/{id}`), and the operator's retry of a failed script."""

from __future__ import annotations

from typing import Any

from vsl_pipelines.cache import JobStatusCache, NullJobStatusCache
from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn, connect
from vsl_pipelines.metrics import emf as metrics
from vsl_pipelines.metrics.prometheus import STATUS_CACHE


def script_status(conn: Conn, script_id: str) -> dict[str, Any]:
    row = script_rows.script_row(conn, script_id)
    jobs = job_rows.all_jobs(conn, script_id)
    takes = take_rows.takes_of(conn, script_id)
    decisions = approval_rows.latest_decisions(conn, script_id)
    sections = []
    for section in script_rows.sections_of(conn, script_id):
        sid = section["id"]
        sections.append(
            {
                "section": sid,
                "current_take": section["current_take"],
                "decision": decisions.get((sid, section["current_take"]), {}).get("decision"),
                "takes": [
                    {
                        "stage": t["stage"],
                        "take": t["take"],
                        "key": t["media_key"],
                        "duration_s": t["duration_s"],
                    }
                    for t in takes
                    if t["section_id"] == sid
                ],
                "jobs": [
                    {
                        "stage": j["stage"],
                        "take": j["take"],
                        "attempt": j["attempt"],
                        "model": j["model_id"],
                        "status": j["status"],
                        "prediction_id": j["prediction_id"],
                    }
                    for j in jobs
                    if j["section_id"] == sid
                ],
            }
        )
    compilation = compilation_rows.latest_compilation(conn, script_id)
    return {
        "script_id": script_id,
        "title": row["title"],
        "status": row["status"],
        "error": row["error"],
        "budget_usd": float(row["budget_usd"]) if row["budget_usd"] is not None else None,
        "estimated_cost_usd": round(job_rows.committed_cost_usd(jobs), 4),
        "soundtrack": [
            {"take": t["take"], "key": t["media_key"]} for t in takes if t["stage"] == "soundtrack"
        ],
        "sections": sections,
        "compilation": None
        if compilation is None
        else {
            k: compilation[k] for k in ("status", "output_uri", "duration_s", "clip_count", "error")
        },
    }


class NotFailed(ValueError):
    pass


def retry_script(conn: Conn, script_id: str) -> dict[str, Any]:
    """Give a failed script another round of attempts for its failed predictions; the webhook
    sensor resubmits them at its next tick."""
    row = script_rows.script_row(conn, script_id)
    granted = script_rows.grant_attempt_round(conn, script_id)
    if granted is None:
        raise NotFailed(f"script {script_id!r} is {row['status']}, not failed; nothing to retry")
    return {
        "script_id": script_id,
        "status": "generating",
        "attempt_round": granted["attempt_rounds"],
        "retrying_after": row["error"],
    }


def prediction_status(
    database_url: str, cache: JobStatusCache, prediction_id: str
) -> dict[str, Any] | None:
    """A prediction's latest status: from the cache, else from the jobs table (and then cached,
    so the next read is a hit); None for a prediction we never created."""
    cached = cache.get(prediction_id)
    if not isinstance(cache, NullJobStatusCache):  # no cache, no hit rate
        STATUS_CACHE.labels("hit" if cached is not None else "miss").inc()
        metrics.record({"CacheHitRate": 100 if cached is not None else 0}, action="status_read")
    if cached is not None:
        return {**cached, "source": "cache"}
    with connect(database_url) as conn:
        job = job_rows.job_by_prediction(conn, prediction_id)
    if job is None:
        return None
    cache.record(prediction_id, job["status"], script_id=job["script_id"], job_id=job["id"])
    return {
        "prediction_id": prediction_id,
        "status": job["status"],
        "script_id": job["script_id"],
        "job_id": job["id"],
        "updated_at": job["updated_at"].timestamp(),
        "source": "database",
    }
