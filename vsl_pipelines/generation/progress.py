"""Following predictions: apply webhook events (and polls) to jobs, and decide which stage runs next.

The webhook sensor calls these; decisions come from the database alone, so a sensor that
restarts, or sees an event twice, reaches the same answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow, MovedJob
from vsl_pipelines.domain.stages import Stage
from vsl_pipelines.generation.collect import review_ready
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.metrics import emf as metrics

if TYPE_CHECKING:  # replicate and httpx are imported by the runs that call Replicate
    from vsl_pipelines.generation.predictions import PredictionClient

log = get_logger(__name__)
MAX_ATTEMPTS = 3  # per round; `vsl scripts retry` grants another round
COLLECTING_STEP = {stage.value: stage.step for stage in Stage}
REVIEW_DUE = "review-due:"  # the run key's prefix of a clips run asked for only to reach review


@dataclass(frozen=True)
class NextRun:
    """A run the sensor should request: which step, for which script, under which run key."""

    script_id: str
    step: str  # "requests", "keyframes", "clips", "soundtrack", "narrations"
    run_key: str
    reason: str


def _record_outcome(prediction: dict[str, Any], job: MovedJob) -> None:
    """JobsCompleted with its ProcessingTime, or JobsFailed, for a job that just finished."""
    status = prediction.get("status")
    context = {
        "job_id": job.id,
        "script_id": job.script_id,
        "model_id": job.model_id,
        "user_id": job.user_id,
        "media_type": job.media_type,
    }
    if status == "succeeded":
        seconds = (prediction.get("metrics") or {}).get("predict_time")
        if not isinstance(seconds, int | float):
            seconds = (datetime.now(UTC) - job.created_at).total_seconds()
        metrics.record(
            {"JobsCompleted": 1, "ProcessingTime": round(float(seconds), 3)},
            action="job_completed",
            duration_ms=round(float(seconds) * 1000),
            **context,
        )
    elif status in job_rows.RETRYABLE:
        metrics.record({"JobsFailed": 1}, action="job_failed", **context)
    if job.billed is not None:
        # Per workspace alone (the dimension set its daily spend alarm watches).
        metrics.record(
            {"SpendUSD": float(job.billed.usd)},
            action="job_billed",
            workspace=job.workspace,
            job_id=job.id,
            script_id=job.script_id,
            user_id=job.user_id,
            cost_source=job.billed.source.value,
        )


def apply_events(
    db: Database,
    bodies: list[str],
    status: JobStatusLayers,
    received: Sequence[datetime] | None = None,
) -> set[str]:
    """Apply webhook bodies to their jobs; return the scripts whose jobs changed (ad-hoc jobs
    have none). Changed jobs' documents go to the `status` layers. `received`: when each body
    reached the inbox (for the WebhookLatency metric)."""
    touched: set[str] = set()
    changed: list[tuple[dict[str, Any], MovedJob]] = []
    latencies: list[tuple[float, MovedJob]] = []
    with db.connect() as conn:
        for index, body in enumerate(bodies):
            try:
                prediction = json.loads(body)
            except json.JSONDecodeError:
                continue
            if not isinstance(prediction, dict) or "id" not in prediction:
                continue
            job = job_rows.apply_prediction(conn, prediction)
            if job is not None:
                if job.script_id is not None:
                    touched.add(job.script_id)
                changed.append((prediction, job))
                if received is not None:
                    latency = _webhook_latency_ms(prediction, received[index])
                    if latency is not None:
                        latencies.append((latency, job))
        conn.commit()
    status.publish(job.id for _, job in changed)
    for prediction, job in changed:
        _record_outcome(prediction, job)
    for latency, job in latencies:
        metrics.record(
            {"WebhookLatency": latency},
            action="webhook_applied",
            job_id=job.id,
            model_id=job.model_id,
        )
    return touched


def apply_final_event(
    db: Database,
    prediction: dict[str, Any],
    status: JobStatusLayers,
    received_at: datetime,
    claim_for_s: float,
) -> MovedJob | None:
    """Apply one webhook where it is accepted, as `apply_events` would (the sensor applies it
    again later, which changes nothing); a move to `succeeded` claims the job's collection for
    `claim_for_s`, and its document is left to the collector, which publishes it once it is
    stored (or as it is, when it leaves it to the runs). The job when this moved it, else None."""
    with db.connect() as conn:
        job = job_rows.apply_prediction(conn, prediction, claim_for_s=claim_for_s)
        conn.commit()
    if job is None:
        return None
    if prediction.get("status") != "succeeded":
        status.publish([job.id])
    _record_outcome(prediction, job)
    latency = _webhook_latency_ms(prediction, received_at)
    if latency is not None:
        metrics.record(
            {"WebhookLatency": latency},
            action="webhook_applied",
            job_id=job.id,
            model_id=job.model_id,
        )
    return job


def _webhook_latency_ms(prediction: dict[str, Any], received_at: datetime) -> float | None:
    """From the prediction's completion (Replicate's clock) to its webhook in the inbox."""
    completed = prediction.get("completed_at")
    if not isinstance(completed, str):
        return None
    try:
        completed_at = datetime.fromisoformat(completed.replace("Z", "+00:00"))
    except ValueError:
        return None
    if completed_at.tzinfo is None:
        return None
    return round((received_at - completed_at).total_seconds() * 1000, 1)


def poll_stale_jobs(
    db: Database,
    client: PredictionClient,
    older_than_s: float,
    status: JobStatusLayers,
    limit: int = 50,
) -> int:
    """Ask Replicate about active jobs whose webhook is late (the reconciler); return updates."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    updated = 0
    with db.connect() as conn:
        stale = [
            j
            for j in job_rows.jobs_in_state(conn, ("starting", "processing"), limit)
            if j.updated_at < cutoff and j.prediction_id
        ]
    for job in stale:
        assert job.prediction_id is not None  # selected above
        try:
            prediction = client.get(job.prediction_id)
        except Exception:
            log.warning("poll failed", extra={"job_id": job.id, "prediction_id": job.prediction_id})
            continue
        with db.connect() as conn:
            changed = job_rows.apply_prediction(conn, prediction)
            if changed is None:
                job_rows.touch(conn, job.id)
        if changed is not None:
            status.publish([changed.id])
            _record_outcome(prediction, changed)
            updated += 1
    return updated


def scripts_to_visit(db: Database, touched: set[str], batch: int) -> list[str]:
    """Generating scripts with news this tick, then the least recently checked ones, so none
    waits forever behind busier scripts."""
    with db.connect() as conn:
        news = script_rows.generating_among(conn, sorted(touched))
        rotation = script_rows.scripts_to_check(conn, batch)
    return news + [s for s in rotation if s not in news]


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def exhausted_attempts(jobs: list[JobRow], attempt_rounds: int) -> list[JobRow]:
    """Current jobs that failed or expired on their last allowed attempt."""
    limit = MAX_ATTEMPTS * attempt_rounds
    return [j for j in jobs if j.status in job_rows.RETRYABLE and j.attempt >= limit]


def failure_reason(exhausted: list[JobRow]) -> str:
    first = exhausted[0]
    where = "/".join(p for p in (first.section_id, first.stage) if p)
    return (
        f"{where} ({first.model_id}) {first.status} after {first.attempt} attempts: "
        f"{first.error or 'no error given'}"
        + (f" (and {len(exhausted) - 1} more)" if len(exhausted) > 1 else "")
    )


def next_runs(db: Database, script_id: str) -> list[NextRun]:
    """The collecting or request runs a script needs now, each with a run key unique to the state.

    A prediction out of attempts fails the script (with the reason; `vsl scripts retry` grants
    another round) and asks only for the collecting run that reports it. While the service
    collects one of the script's outputs at its webhook (and does what follows: stills,
    previews, review), nothing is asked: the next tick asks for what it leaves, or for all of
    it once its claim lapses. A script whose takes are all stored but that is still generating
    (the service stopped before moving it on) gets the clips run, which moves it to review.
    """
    runs: list[NextRun] = []
    with db.connect() as conn:
        row = script_rows.script_row(conn, script_id)
        script = script_rows.load_stored_script(conn, script_id)
        sections = script_rows.sections_of(conn, script_id)
        current = {s.id: s.current_take for s in sections}
        narration = {s.id: s.narration_take for s in sections}
        jobs = [
            j
            for j in job_rows.latest_jobs(conn, script_id)
            if not j.section_id
            or j.take == (narration if j.stage == "narration" else current).get(j.section_id)
        ]
        takes = {(t.section_id, t.stage, t.take) for t in take_rows.takes_of(conn, script_id)}
    if any(j.claimed() for j in jobs):
        return []

    by_stage: dict[str, list[JobRow]] = {stage: [] for stage in COLLECTING_STEP}
    for job in jobs:
        by_stage[job.stage].append(job)

    exhausted = exhausted_attempts(jobs, row.attempt_rounds)
    if exhausted:
        with db.connect() as conn:
            script_rows.fail_script(conn, script_id, failure_reason(exhausted))
        return [
            NextRun(
                script_id,
                COLLECTING_STEP[stage],
                f"failed:{script_id}:{_digest([(j.id, j.status) for j in exhausted])}",
                "report the prediction(s) out of attempts",
            )
            for stage in sorted({j.stage for j in exhausted})
        ]
    retry = [j for j in jobs if j.status in job_rows.RETRYABLE]
    if retry:
        runs.append(
            NextRun(
                script_id,
                "requests",
                f"retry:{script_id}:{_digest([(j.id, j.status) for j in retry])}",
                f"{len(retry)} failed or expired prediction(s) to resubmit",
            )
        )

    for stage in ("keyframe", "soundtrack", "narration", "clip"):
        step = COLLECTING_STEP[stage]
        stage_jobs = by_stage[stage]
        if any(j.status in job_rows.ACTIVE for j in stage_jobs):
            continue
        ready: list[tuple[int | str, str]] = [
            (j.id, j.status)
            for j in stage_jobs
            if j.status == "succeeded" and j.collected_at is None
        ]
        if stage == "clip":
            # A still section's clip is rendered locally by the clips run, no webhook needed.
            ready += [
                (f"still:{s.id}:{current[s.id]}", "still")
                for s in script.sections
                if s.still is not None
                and (s.id, "keyframe", current[s.id]) in takes
                and (s.id, "clip", current[s.id]) not in takes
            ]
        if ready:
            runs.append(
                NextRun(
                    script_id,
                    step,
                    f"{step}:{script_id}:{_digest(ready)}",
                    f"{len(ready)} {stage} output(s) to collect",
                )
            )

    # A keyframe stored for the current take, but no clip job yet: the clip request is due.
    due = [
        (s.id, current[s.id])
        for s in script.sections
        if s.clip is not None
        and s.keyframe is not None
        and (s.id, "keyframe", current[s.id]) in takes
        and not any(j.stage == "clip" and j.section_id == s.id for j in jobs)
    ]
    if due and not any(r.step == "requests" for r in runs):
        runs.append(
            NextRun(
                script_id,
                "requests",
                f"clips-due:{script_id}:{_digest(due)}",
                f"{len(due)} clip request(s) due",
            )
        )
    if not runs and row.status == "generating" and review_ready(db, script_id):
        runs.append(
            NextRun(
                script_id,
                COLLECTING_STEP["clip"],
                f"{REVIEW_DUE}{script_id}:{_digest(sorted(takes))}",
                "every take stored: move the script to review",
            )
        )
    return runs
