"""A script's state in one document: sections, takes, jobs, decisions, cost (`vsl scripts show`,
`GET /api/scripts/{id}`), and the operator's retry of a failed script."""

from __future__ import annotations

from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import audit
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.domain.roles import OPERATOR
from vsl_pipelines.domain.script import VARIANT_MARK


def script_status(conn: Conn, script_id: str) -> dict[str, Any]:
    row = script_rows.script_row(conn, script_id)
    jobs = job_rows.all_jobs(conn, script_id)
    takes = take_rows.takes_of(conn, script_id)
    decisions = approval_rows.latest_decisions(conn, script_id)
    spoken = approval_rows.latest_decisions(conn, script_id, "narration")
    script = script_rows.load_stored_script(conn, script_id)
    voiced = {s.id for s in script.sections if script.voice_of(s) is not None}
    sections = []
    for section in script_rows.sections_of(conn, script_id):
        sid = section.id
        narration_take = section.narration_take if sid in voiced else None
        decision = decisions.get((sid, section.current_take))
        spoke = spoken.get((sid, narration_take)) if narration_take is not None else None
        sections.append(
            {
                "section": sid,
                # A hook variant's section (`hook~a`) is reviewed as a section of its own.
                "variant_of": sid.partition(VARIANT_MARK)[0] if VARIANT_MARK in sid else None,
                "variant": sid.partition(VARIANT_MARK)[2] or None,
                "current_take": section.current_take,
                "decision": decision.decision if decision else None,
                "decided_by": decision.reviewer if decision else None,
                # A voiced section's narration has its own take and decision (None: no voice).
                "narration_take": narration_take,
                "narration_decision": spoke.decision if spoke else None,
                "narration_decided_by": spoke.reviewer if spoke else None,
                "takes": [
                    {
                        "stage": t.stage,
                        "take": t.take,
                        "key": t.media_key,
                        "duration_s": t.duration_s,
                    }
                    for t in takes
                    if t.section_id == sid
                ],
                "jobs": [
                    {
                        "job_id": str(j.public_id),
                        "stage": j.stage,
                        "take": j.take,
                        "attempt": j.attempt,
                        "model": j.model_id,
                        "status": j.status,
                        "prediction_id": j.prediction_id,
                    }
                    for j in jobs
                    if j.section_id == sid
                ],
            }
        )
    compilation = compilation_rows.latest_compilation(conn, script_id)
    return {
        "script_id": script_id,
        "title": row.title,
        "status": row.status,
        "error": row.error,
        "budget_usd": float(row.budget_usd) if row.budget_usd is not None else None,
        "estimated_cost_usd": round(job_rows.estimated_cost_usd(jobs), 6),
        # What Replicate bills once every prediction ended (None before); `spent_usd` counts the
        # estimate of those still running, as the budget does.
        "actual_cost_usd": _rounded(job_rows.actual_cost_usd(jobs)),
        "spent_usd": round(job_rows.committed_cost_usd(jobs), 6),
        "soundtrack": [
            {"take": t.take, "key": t.media_key} for t in takes if t.stage == "soundtrack"
        ],
        "sections": sections,
        "compilation": None
        if compilation is None
        else {
            "id": compilation.id,
            "status": compilation.status,
            "output_uri": compilation.output_uri,
            "duration_s": compilation.duration_s,
            "clip_count": compilation.clip_count,
            "error": compilation.error,
        },
    }


def _rounded(usd: float | None) -> float | None:
    return None if usd is None else round(usd, 6)


class NotFailed(ValueError):
    pass


def retry_script(conn: Conn, script_id: str, actor: str = OPERATOR) -> dict[str, Any]:
    """Give a failed script another round of attempts for its failed predictions; the webhook
    sensor resubmits them at its next tick. `actor` goes in the audit log."""
    row = script_rows.script_row(conn, script_id)
    granted = script_rows.grant_attempt_round(conn, script_id)
    if granted is None:
        raise NotFailed(f"script {script_id!r} is {row.status}, not failed; nothing to retry")
    audit.record(
        conn,
        row.workspace_id,
        actor,
        "script.retried",
        f"script:{script_id}",
        {"attempt_round": granted.attempt_rounds, "after": row.error},
    )
    return {
        "script_id": script_id,
        "status": "generating",
        "attempt_round": granted.attempt_rounds,
        "retrying_after": row.error,
    }
