"""The `jobs` table: one row per prediction we create, written before the Replicate call.

Status only moves forward: a late `processing` after `succeeded` changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all, fetch_one, returned
from vsl_pipelines.domain.billing import Cost, CostSource, Ended, Pricing, billed, output_count
from vsl_pipelines.domain.job_document import MEDIA_TYPE_OF_STAGE
from vsl_pipelines.domain.status_order import ACTIVE, RETRYABLE, TERMINAL, status_rank

if TYPE_CHECKING:
    from vsl_pipelines.db.database import Database

__all__ = [
    "ACTIVE",
    "RETRYABLE",
    "TERMINAL",
    "AdhocDay",
    "DueMaterialization",
    "JobDocumentRow",
    "JobRow",
    "MovedJob",
]


@dataclass(frozen=True)
class JobRow:
    """A `jobs` row: one attempt at a prediction (`script_id` None for an ad-hoc job), its
    columns in the table's order."""

    id: int
    script_id: str | None
    section_id: str
    stage: str
    take: int
    attempt: int
    model_id: str
    prediction_id: str | None
    status: str
    input: JsonObject
    output: Any
    error: str | None
    estimated_cost_usd: Decimal
    actual_cost_usd: Decimal | None
    predict_time_s: float | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    collected_at: datetime | None
    public_id: UUID
    user_id: str | None
    media_type: str
    workspace_id: int
    pricing: JsonObject | None  # the billing rule it was estimated with (domain.billing.Pricing)
    cost_source: str | None  # billed | estimated, once its actual cost is known
    # Until when the service collecting it at its webhook holds it (None: no one does).
    collect_lease_until: datetime | None
    materialization_due: bool  # collected outside a run, not yet recorded in Dagster
    # When the webhook sensor last returned its events (None: never): they may be in Dagster.
    materialization_sent_at: datetime | None

    def claimed(self, now: datetime | None = None) -> bool:
        """Whether the service holds its collection (a claim that lapsed holds nothing)."""
        if self.collect_lease_until is None:
            return False
        return self.collect_lease_until > (now or datetime.now(UTC))


@dataclass(frozen=True)
class JobDocumentRow(JobRow):
    """A job with its newest stored output (the `take_*` columns are None before one)."""

    take_media_key: str | None
    take_thumbnail_key: str | None
    take_probe: JsonObject | None
    take_size_bytes: int | None
    take_content_type: str | None


@dataclass(frozen=True)
class MovedJob:
    """What a prediction's update needs to know of the job whose status it moved."""

    id: int
    script_id: str | None
    model_id: str
    user_id: str | None
    media_type: str
    status: str  # before the move
    created_at: datetime
    workspace: str  # its workspace's slug
    pricing: JsonObject | None
    estimated_cost_usd: Decimal
    billed: Cost | None = None  # its actual cost, when the move ended it and it is known


@dataclass(frozen=True)
class AdhocDay:
    """A UTC day with finished ad-hoc jobs not yet collected."""

    day: date
    job_ids: list[int]
    statuses: list[str]


def reserve_job(
    conn: Conn,
    *,
    script_id: str,
    section_id: str,
    stage: str,
    take: int,
    model_id: str,
    model_input: JsonObject,
    estimated_cost_usd: float,
    pricing: JsonObject,
) -> JobRow:
    """Insert the next attempt for (script, section, stage, take) in state `creating`."""
    return returned(
        fetch_one(
            conn,
            JobRow,
            "INSERT INTO jobs (script_id, section_id, stage, take, attempt, model_id, input,"
            " estimated_cost_usd, media_type, workspace_id, pricing)"
            " SELECT %(script)s, %(section)s, %(stage)s, %(take)s,"
            "  COALESCE(MAX(attempt), 0) + 1, %(model)s, %(input)s, %(cost)s, %(media)s,"
            "  (SELECT workspace_id FROM scripts WHERE id = %(script)s), %(pricing)s FROM jobs"
            " WHERE script_id = %(script)s AND section_id = %(section)s AND stage = %(stage)s"
            "  AND take = %(take)s RETURNING *",
            {
                "script": script_id,
                "section": section_id,
                "stage": stage,
                "take": take,
                "model": model_id,
                "input": json.dumps(model_input),
                "cost": estimated_cost_usd,
                "media": MEDIA_TYPE_OF_STAGE[stage],
                "pricing": json.dumps(pricing),
            },
        )
    )


def reserve_adhoc_job(
    conn: Conn,
    *,
    workspace_id: int,
    user_id: str,
    media_type: str,
    model_id: str,
    model_input: JsonObject,
    estimated_cost_usd: float,
    pricing: JsonObject,
) -> JobRow:
    """Insert an ad-hoc job (no script) in state `creating`."""
    return returned(
        fetch_one(
            conn,
            JobRow,
            "INSERT INTO jobs (script_id, section_id, stage, take, attempt, model_id, input,"
            " estimated_cost_usd, media_type, user_id, workspace_id, pricing)"
            " VALUES (NULL, '', 'adhoc', 1, 1, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (
                model_id,
                json.dumps(model_input),
                estimated_cost_usd,
                media_type,
                user_id,
                workspace_id,
                json.dumps(pricing),
            ),
        )
    )


_DOCUMENT_ROWS = (
    "SELECT j.*, t.media_key AS take_media_key, t.thumbnail_key AS take_thumbnail_key,"
    " t.probe AS take_probe, t.size_bytes AS take_size_bytes,"
    " t.content_type AS take_content_type FROM jobs j"
    " LEFT JOIN LATERAL (SELECT * FROM takes WHERE takes.job_id = j.id ORDER BY takes.id DESC"
    " LIMIT 1) t ON true"
)


def document_rows(conn: Conn, job_ids: list[int]) -> list[JobDocumentRow]:
    """Jobs with their stored output, for their status documents."""
    return fetch_all(conn, JobDocumentRow, f"{_DOCUMENT_ROWS} WHERE j.id = ANY(%s)", (job_ids,))


def document_row(conn: Conn, public_id: str) -> JobDocumentRow | None:
    """One job by its public id, with its stored output."""
    return fetch_one(conn, JobDocumentRow, f"{_DOCUMENT_ROWS} WHERE j.public_id = %s", (public_id,))


def adhoc_days_to_collect(conn: Conn, limit: int = 31) -> list[AdhocDay]:
    """UTC days with finished ad-hoc jobs not yet collected (nor claimed by the service),
    oldest first."""
    return fetch_all(
        conn,
        AdhocDay,
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day,"
        " array_agg(id ORDER BY id) AS job_ids, array_agg(status ORDER BY id) AS statuses"
        " FROM jobs WHERE stage = 'adhoc' AND collected_at IS NULL"
        " AND status = ANY(%s) AND NOT coalesce(collect_lease_until > now(), false)"
        " GROUP BY 1 ORDER BY 1 LIMIT %s",
        (list(TERMINAL), limit),
    )


def adhoc_jobs_between(conn: Conn, start: datetime, end: datetime) -> list[JobRow]:
    """Ad-hoc jobs created in [start, end), oldest first."""
    return fetch_all(
        conn,
        JobRow,
        "SELECT * FROM jobs WHERE stage = 'adhoc' AND created_at >= %s AND created_at < %s"
        " ORDER BY id",
        (start, end),
    )


def uncollected_adhoc_jobs_between(conn: Conn, start: datetime, end: datetime) -> list[JobRow]:
    """Ad-hoc jobs created in [start, end) that no one has collected, oldest first (read by
    `jobs_adhoc_uncollected`, not the whole day)."""
    return fetch_all(
        conn,
        JobRow,
        "SELECT * FROM jobs WHERE stage = 'adhoc' AND collected_at IS NULL"
        " AND created_at >= %s AND created_at < %s ORDER BY id",
        (start, end),
    )


def attach_prediction(conn: Conn, job_id: int, prediction: JsonObject) -> None:
    """Record the prediction created for a job, then its state (which may have ended)."""
    conn.execute(
        "UPDATE jobs SET prediction_id = %s, status = 'starting', updated_at = now()"
        " WHERE id = %s AND status = 'creating'",
        (prediction["id"], job_id),
    )
    apply_prediction(conn, prediction)


def apply_prediction(
    conn: Conn, prediction: JsonObject, *, claim_for_s: float | None = None
) -> MovedJob | None:
    """Record a prediction's state (from a webhook or a poll); never move status backwards.
    A prediction that ended gets its actual cost, as Replicate bills it, where it is known.
    With `claim_for_s`, a move to `succeeded` also claims the job's collection for that long,
    in the same statement (the service collecting at the webhook; see `record_collected`).

    Returns the job when its status moved, else None.
    """
    status = prediction.get("status")
    row = fetch_one(
        conn,
        MovedJob,
        "SELECT id, script_id, model_id, user_id, media_type, status, created_at,"
        " (SELECT slug FROM workspaces w WHERE w.id = jobs.workspace_id) AS workspace,"
        " pricing, estimated_cost_usd FROM jobs WHERE prediction_id = %s FOR UPDATE",
        (prediction.get("id"),),
    )
    if row is None or status is None or status_rank(status) <= status_rank(row.status):
        return None
    metrics = prediction.get("metrics") or {}
    predict_time = metrics.get("predict_time")
    if isinstance(predict_time, bool) or not isinstance(predict_time, int | float):
        predict_time = None
    cost = _cost_when_ended(row, status, predict_time, prediction)
    conn.execute(
        "UPDATE jobs SET status = %s, output = %s, error = %s, predict_time_s = %s,"
        " completed_at = CASE WHEN %s THEN COALESCE(%s::timestamptz, now()) END,"
        " actual_cost_usd = COALESCE(%s, actual_cost_usd),"
        " cost_source = COALESCE(%s, cost_source), updated_at = now(),"
        " collect_lease_until = CASE WHEN %s THEN now() + make_interval(secs => %s::float8)"
        "  ELSE collect_lease_until END WHERE id = %s",
        (
            status,
            json.dumps(prediction.get("output")),
            _error_text(prediction.get("error")),
            predict_time,
            status in TERMINAL,
            prediction.get("completed_at"),
            cost.usd if cost else None,
            cost.source.value if cost else None,
            claim_for_s is not None and status == "succeeded",
            claim_for_s or 0.0,
            row.id,
        ),
    )
    return replace(row, billed=cost)


def _cost_when_ended(
    row: MovedJob, status: str, predict_time: float | None, prediction: JsonObject
) -> Cost | None:
    """What an ended prediction costs: by its billing rule, or its estimate when it has none
    (a job older than the rules); None while it runs, or until a per-second output is probed."""
    if status not in TERMINAL:
        return None
    if row.pricing is None:
        return Cost(row.estimated_cost_usd, CostSource.ESTIMATED)
    ended = Ended(status, predict_time, output_count(prediction))
    return billed(Pricing.model_validate(row.pricing), ended, row.estimated_cost_usd)


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    return error if isinstance(error, str) else json.dumps(error)


def mark(conn: Conn, job_id: int, status: str, error: str | None = None) -> None:
    conn.execute(
        "UPDATE jobs SET status = %s, error = COALESCE(%s, error), updated_at = now(),"
        " completed_at = COALESCE(completed_at, now()) WHERE id = %s",
        (status, error, job_id),
    )


def touch(conn: Conn, job_id: int) -> None:
    """Note that the job was looked at now (a poll that found nothing new)."""
    conn.execute("UPDATE jobs SET updated_at = now() WHERE id = %s", (job_id,))


def prediction_claimed(conn: Conn, prediction_id: str) -> bool:
    """Whether a job already holds this prediction."""
    found = conn.execute("SELECT 1 FROM jobs WHERE prediction_id = %s", (prediction_id,))
    return found.fetchone() is not None


def claimed_in(db: Database) -> Callable[[str], bool]:
    """`prediction_claimed` on its own connection, for a client looking for a prediction an
    ambiguous create may have made."""

    def claimed(prediction_id: str) -> bool:
        with db.connect() as conn:
            return prediction_claimed(conn, prediction_id)

    return claimed


def mark_collected(conn: Conn, job_id: int) -> None:
    conn.execute(
        "UPDATE jobs SET collected_at = now(), updated_at = now() WHERE id = %s", (job_id,)
    )


def job_by_id(conn: Conn, job_id: int) -> JobRow | None:
    return fetch_one(conn, JobRow, "SELECT * FROM jobs WHERE id = %s", (job_id,))


def record_collected(conn: Conn, job_id: int, *, release: bool) -> bool:
    """A claimed job's output stored outside a run: collected, and due to be recorded in
    Dagster (`release`: the claim ends with it, nothing follows). Only the first to collect it
    records it; False when it was collected already."""
    row = conn.execute(
        "UPDATE jobs SET collected_at = now(), materialization_due = true, updated_at = now(),"
        " collect_lease_until = CASE WHEN %s THEN NULL ELSE collect_lease_until END"
        " WHERE id = %s AND collected_at IS NULL RETURNING id",
        (release, job_id),
    ).fetchone()
    return row is not None


def release_claim(conn: Conn, job_id: int) -> None:
    """The service is done with the job (collected, or left to the runs)."""
    conn.execute("UPDATE jobs SET collect_lease_until = NULL WHERE id = %s", (job_id,))


@dataclass(frozen=True)
class DueMaterialization:
    """A job collected outside a run, with its stored output, waiting to be recorded in Dagster."""

    id: int
    public_id: UUID
    script_id: str | None
    section_id: str
    stage: str
    take: int
    model_id: str
    user_id: str | None
    created_at: datetime
    media_key: str | None
    size_bytes: int | None
    duration_s: float | None
    still_clip_key: str | None  # a keyframe's: the still section's clip rendered from it
    # When a tick last returned its events (None: never): Dagster may hold them already.
    sent_at: datetime | None


def materializations_due(conn: Conn, limit: int) -> list[DueMaterialization]:
    """Jobs collected outside a run not yet recorded in Dagster, oldest first; not those whose
    collector still holds them (what follows the take is not done yet)."""
    return fetch_all(
        conn,
        DueMaterialization,
        "SELECT j.id, j.public_id, j.script_id, j.section_id, j.stage, j.take, j.model_id,"
        " j.user_id, j.created_at, t.media_key, t.size_bytes, t.duration_s,"
        " (SELECT c.media_key FROM takes c WHERE j.stage = 'keyframe'"
        "  AND c.script_id = j.script_id AND c.section_id = j.section_id AND c.stage = 'clip'"
        "  AND c.take = j.take AND c.job_id IS NULL) AS still_clip_key,"
        " j.materialization_sent_at AS sent_at FROM jobs j"
        " LEFT JOIN LATERAL (SELECT * FROM takes WHERE takes.job_id = j.id ORDER BY takes.id"
        " DESC LIMIT 1) t ON true WHERE j.materialization_due"
        " AND NOT coalesce(j.collect_lease_until > now(), false) ORDER BY j.id LIMIT %s",
        (limit,),
    )


def materializations_sent(conn: Conn, job_ids: list[int]) -> None:
    """The webhook sensor returns these jobs' events now: from here on Dagster may hold them,
    even if the tick's cursor never says so."""
    if job_ids:
        conn.execute(
            "UPDATE jobs SET materialization_sent_at = now() WHERE id = ANY(%s)"
            " AND materialization_due",
            (job_ids,),
        )


def materializations_recorded(conn: Conn, job_ids: list[int]) -> None:
    """Dagster holds these jobs' materializations now."""
    if job_ids:
        conn.execute(
            "UPDATE jobs SET materialization_due = false WHERE id = ANY(%s) AND materialization_due",
            (job_ids,),
        )


def record_output_cost(conn: Conn, job: JobRow, output_seconds: float | None) -> None:
    """A per-output-second price, billed once the stored output's duration is known (its
    estimate stands in when the output has none)."""
    if job.pricing is None or job.actual_cost_usd is not None:
        return
    pricing = Pricing.model_validate(job.pricing)
    ended = Ended(job.status, job.predict_time_s, 1, output_seconds)
    cost = billed(pricing, ended, job.estimated_cost_usd) or Cost(
        job.estimated_cost_usd, CostSource.ESTIMATED
    )
    conn.execute(
        "UPDATE jobs SET actual_cost_usd = %s, cost_source = %s, updated_at = now()"
        " WHERE id = %s AND actual_cost_usd IS NULL",
        (cost.usd, cost.source.value, job.id),
    )


def latest_jobs(conn: Conn, script_id: str, stage: str | None = None) -> list[JobRow]:
    """The newest attempt of every (section, stage, take) of a script."""
    return fetch_all(
        conn,
        JobRow,
        "SELECT DISTINCT ON (section_id, stage, take) * FROM jobs WHERE script_id = %s"
        " AND (%s::text IS NULL OR stage = %s)"
        " ORDER BY section_id, stage, take, attempt DESC",
        (script_id, stage, stage),
    )


def jobs_in_state(conn: Conn, statuses: tuple[str, ...], limit: int = 500) -> list[JobRow]:
    return fetch_all(
        conn,
        JobRow,
        "SELECT * FROM jobs WHERE status = ANY(%s) ORDER BY id LIMIT %s",
        (list(statuses), limit),
    )


def all_jobs(conn: Conn, script_id: str) -> list[JobRow]:
    return fetch_all(
        conn, JobRow, "SELECT * FROM jobs WHERE script_id = %s ORDER BY id", (script_id,)
    )


def unreported_failures(conn: Conn, script_id: str, stage: str) -> list[JobRow]:
    """Failed or expired attempts no collecting run has reported yet (even if since retried)."""
    return fetch_all(
        conn,
        JobRow,
        "SELECT * FROM jobs WHERE script_id = %s AND stage = %s AND status = ANY(%s)"
        " AND collected_at IS NULL ORDER BY id",
        (script_id, stage, list(RETRYABLE)),
    )


def _spent(job: JobRow) -> bool:
    """Whether a job counts as spend: its prediction was created (or may have been)."""
    return job.status != "creating" and not (
        job.prediction_id is None and job.status in ("failed", "canceled", "aborted")
    )


def committed_cost_usd(jobs: list[JobRow]) -> float:
    """What jobs have spent, as budgets count it: each created prediction at its actual cost
    once known, else its estimate."""
    return sum(
        float(j.actual_cost_usd if j.actual_cost_usd is not None else j.estimated_cost_usd)
        for j in jobs
        if _spent(j)
    )


def estimated_cost_usd(jobs: list[JobRow]) -> float:
    """The estimates of the jobs whose prediction was created."""
    return sum(float(j.estimated_cost_usd) for j in jobs if _spent(j))


def actual_cost_usd(jobs: list[JobRow]) -> float | None:
    """What Replicate bills for the jobs' ended predictions (None until every created one has
    its actual cost)."""
    spent = [j for j in jobs if _spent(j)]
    if any(j.actual_cost_usd is None for j in spent):
        return None
    return sum(float(j.actual_cost_usd or 0) for j in spent)
