"""Submit the predictions a stage still needs: never one for an active or finished take.

Each job row is committed in state `creating` before the Replicate call, so a crash between
the two is recovered by finding the prediction instead of creating a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow
from vsl_pipelines.db.soundtracks import SOUNDTRACK_SECTION, soundtrack_take
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.generation import budgets
from vsl_pipelines.generation.stages import BudgetExceeded, PlannedJob, SectionState, plan_stage
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.metrics import emf as metrics
from vsl_pipelines.storage.base import MediaStore

if TYPE_CHECKING:  # replicate and httpx are imported by the runs that call Replicate
    from vsl_pipelines.generation.predictions import PredictionClient

log = get_logger(__name__)


@dataclass
class SubmitReport:
    stage: str
    submitted: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    skipped_active: int = 0
    skipped_done: int = 0
    waiting_for_keyframe: int = 0
    estimated_cost_usd: float = 0.0

    @property
    def count(self) -> int:
        return len(self.submitted) + len(self.recovered)


def section_states(conn: Any, script_id: str) -> dict[str, SectionState]:
    """Each section's current takes, and the soundtrack's (under its empty section id)."""
    states = {
        row.id: SectionState(
            take=row.current_take,
            overrides=row.overrides or {},
            narration_take=row.narration_take,
            narration_overrides=row.narration_overrides or {},
        )
        for row in script_rows.sections_of(conn, script_id)
    }
    states[SOUNDTRACK_SECTION] = SectionState(take=soundtrack_take(conn, script_id))
    return states


def keyframe_urls(conn: Any, script_id: str, store: MediaStore) -> dict[tuple[str, int], str]:
    return {
        (row.section_id, row.take): store.public_url(row.media_key)
        for row in take_rows.takes_of(conn, script_id, "keyframe")
    }


def submit_missing_predictions(
    db: Database,
    client: PredictionClient,
    registry: Registry,
    store: MediaStore,
    script_id: str,
    stage: str,
    status: JobStatusLayers,
) -> SubmitReport:
    """Create the predictions `stage` still needs for `script_id`'s current takes; each new
    job's document goes to the `status` layers."""
    report = SubmitReport(stage=stage)
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        states = section_states(conn, script_id)
        urls = keyframe_urls(conn, script_id, store) if stage == "clip" else None
        planned = plan_stage(script, registry, stage, states, urls)
        if stage == "clip":
            report.waiting_for_keyframe = sum(
                1 for s in script.sections if s.clip is not None
            ) - len(planned)
        latest = {(j.section_id, j.take): j for j in job_rows.latest_jobs(conn, script_id, stage)}
        workspace_id = script_rows.script_workspace(conn, script_id)
        conn.commit()

    to_create: list[tuple[PlannedJob, JobRow | None]] = []
    for job in planned:
        existing = latest.get((job.section_id, job.take))
        if existing is None or existing.status in job_rows.RETRYABLE:
            to_create.append((job, None))
        elif existing.status == "creating":
            to_create.append((job, existing))
        elif existing.status == "succeeded":
            report.skipped_done += 1
        else:
            report.skipped_active += 1

    new = [job for job, row in to_create if row is None]
    # (job, its row, whether a crash left it reserved but maybe created)
    reserved: list[tuple[PlannedJob, JobRow, bool]] = [
        (job, row, True) for job, row in to_create if row is not None
    ]
    if new:
        # Every new prediction of the stage is reserved at once, under the workspace's lock,
        # against the script's budget and the workspace's month (BudgetExceeded: none is).
        assert workspace_id is not None  # the script was loaded above
        with db.connect() as conn:
            budgets.lock_workspace(conn, workspace_id)
            # Read again under the lock: another run of this script (an edit's and a retake's,
            # say) may have reserved some of these takes since the read above.
            now_latest = {
                (j.section_id, j.take): j for j in job_rows.latest_jobs(conn, script_id, stage)
            }
            taken = [job for job in new if _reserved_since(now_latest, latest, job)]
            report.skipped_active += len(taken)
            new = [job for job in new if job not in taken]
            new_cost = sum(job.estimated_cost_usd for job in new)
            try:
                budgets.reserve(conn, workspace_id, new_cost, script_id, script.budget_usd)
            except BudgetExceeded as exc:
                raise BudgetExceeded(f"{len(new)} new {stage} prediction(s): {exc}") from None
            reserved += [(job, _reserve(conn, script_id, job), False) for job in new]
    for job, row, recovered in reserved:
        _create(db, client, script_id, job, row, recovered, report, status)
    if report.count:
        with db.connect() as conn:
            script_rows.move_status(conn, script_id, "generating", ("queued", "review", "failed"))
    return report


def _reserved_since(
    now_latest: dict[tuple[str, int], JobRow],
    before: dict[tuple[str, int], JobRow],
    job: PlannedJob,
) -> bool:
    """Whether the take got a newer job than the one read before the lock."""
    now = now_latest.get((job.section_id, job.take))
    then = before.get((job.section_id, job.take))
    return now is not None and (then is None or now.attempt > then.attempt)


def _reserve(conn: Conn, script_id: str, job: PlannedJob) -> JobRow:
    return job_rows.reserve_job(
        conn,
        script_id=script_id,
        section_id=job.section_id,
        stage=job.stage,
        take=job.take,
        model_id=job.spec.id,
        model_input=job.model_input,
        estimated_cost_usd=job.estimated_cost_usd,
        pricing=job.spec.pricing.document(),
    )


def _create(
    db: Database,
    client: PredictionClient,
    script_id: str,
    job: PlannedJob,
    row: JobRow,
    recovered: bool,
    report: SubmitReport,
    status: JobStatusLayers,
) -> None:
    context = {
        "script_id": script_id,
        "section_id": job.section_id,
        "model_id": job.spec.id,
        "stage": job.stage,
        "take": job.take,
    }
    prediction = None
    if recovered:
        # A crash left this job between reservation and creation: look before creating.
        prediction = client.find_existing(
            job.spec, row.input, since=row.created_at, claimed=job_rows.claimed_in(db)
        )
    model_input = row.input
    if prediction is None:
        try:
            prediction = client.create(
                job.spec, model_input, reserved_at=row.created_at, claimed=job_rows.claimed_in(db)
            )
        except Exception as exc:
            with db.connect() as conn:
                job_rows.mark(conn, row.id, "failed", error=str(exc))
            log.error("prediction create failed", extra={**context, "job_id": row.id})
            raise
        target = report.submitted
    else:
        target = report.recovered
    with db.connect() as conn:
        job_rows.attach_prediction(conn, row.id, prediction)
    status.publish([row.id])
    report.estimated_cost_usd += job.estimated_cost_usd
    # Recorded once per job: a prediction recovered after a crash was never recorded before.
    metrics.record(
        {"JobsStarted": 1, "CostUSD": job.estimated_cost_usd},
        action="job_started",
        job_id=row.id,
        script_id=script_id,
        model_id=job.spec.id,
        media_type=job.spec.kind,
    )
    target.append(
        {
            "job_id": row.id,
            "section": job.section_id,
            "prediction_id": prediction["id"],
            "model": job.spec.id,
            "take": job.take,
        }
    )
    log.info(
        "prediction submitted",
        extra={**context, "job_id": row.id, "prediction_id": prediction["id"]},
    )
