"""A script's failed predictions as an operator sees them in Dagster: each current take whose
latest attempt failed, was canceled or aborted, or expired, with its error and whether another
attempt is due (else the script failed for it: `vsl scripts retry`, the studio's Retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.generation.progress import MAX_ATTEMPTS


@dataclass(frozen=True)
class PredictionFailure:
    """The latest attempt of a take that did not succeed."""

    job_id: int
    section_id: str
    stage: str
    take: int
    attempt: int
    model_id: str
    prediction_id: str | None
    status: str
    error: str | None
    retried: bool  # another attempt is due; False: out of attempts, the script failed

    def describe(self) -> str:
        where = "/".join(p for p in (self.section_id, self.stage) if p)
        then = "tried again" if self.retried else "out of attempts: the script failed"
        return (
            f"{where} take {self.take} ({self.model_id}) {self.status} on attempt"
            f" {self.attempt}: {self.error or 'no error given'}; {then}"
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "section": self.section_id or "(script)",
            "take": self.take,
            "attempt": self.attempt,
            "model": self.model_id,
            "status": self.status,
            "error": self.error or "",
            "prediction_id": self.prediction_id or "(never created)",
            "job_id": self.job_id,
            "retried": self.retried,
        }


def failed_predictions(db: Database, script_id: str, stage: str) -> list[PredictionFailure]:
    """The current takes of `stage` whose latest attempt did not succeed: what the stage's
    request asset submits again, or what failed the script."""
    with db.connect() as conn:
        row = script_rows.script_row(conn, script_id)
        sections = script_rows.sections_of(conn, script_id)
        jobs = job_rows.latest_jobs(conn, script_id, stage)
    current = {s.id: s.narration_take if stage == "narration" else s.current_take for s in sections}
    limit = MAX_ATTEMPTS * row.attempt_rounds
    return [
        PredictionFailure(
            job_id=job.id,
            section_id=job.section_id,
            stage=job.stage,
            take=job.take,
            attempt=job.attempt,
            model_id=job.model_id,
            prediction_id=job.prediction_id,
            status=job.status,
            error=job.error,
            retried=job.attempt < limit,
        )
        for job in jobs
        if job.status in job_rows.RETRYABLE
        and (not job.section_id or job.take == current.get(job.section_id))
    ]
