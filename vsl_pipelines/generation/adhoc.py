"""Ad-hoc generations (`POST /api/generate-media`): collected by UTC day, like script media.

A day's finished, uncollected ad-hoc jobs are downloaded into the media store under
`adhoc/{day}/{jobId}.{ext}`, probed and thumbnailed; failures are reported once. The webhook
sensor asks `days_to_collect` which days need a run, each under a run key unique to the state.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.days import day_bounds
from vsl_pipelines.generation.collect import (
    OutputExpired,
    adhoc_keys,
    download,
    first_output_url,
    output_extension,
    record_stored_adhoc,
    store_output,
)
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.storage.base import MediaStore

log = get_logger(__name__)


@dataclass(frozen=True)
class DayToCollect:
    day: date
    state_key: str
    jobs: int


def days_to_collect(db: Database) -> list[DayToCollect]:
    """Days with finished ad-hoc jobs not collected yet, each with a key for its state."""
    with db.connect() as conn:
        rows = job_rows.adhoc_days_to_collect(conn)
    return [
        DayToCollect(
            day=row.day,
            state_key="adhoc:{}:{}".format(
                row.day.isoformat(),
                hashlib.sha256(
                    json.dumps(list(zip(row.job_ids, row.statuses, strict=True))).encode()
                ).hexdigest()[:16],
            ),
            jobs=len(row.job_ids),
        )
        for row in rows
    ]


@dataclass
class AdhocDayReport:
    """What a day's collection did, and the day's figures (every ad-hoc job created that day)."""

    day: date
    stored: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    jobs: int = 0
    completed: int = 0
    failed_total: int = 0
    waiting: int = 0
    estimated_usd: float = 0.0
    actual_usd: float = 0.0
    by_model: dict[str, int] = field(default_factory=dict)
    by_user: dict[str, int] = field(default_factory=dict)


def collect_adhoc_day(
    db: Database, store: MediaStore, day: date, status: JobStatusLayers
) -> AdhocDayReport:
    """Store every finished, uncollected ad-hoc output of `day`; report the day's figures."""
    report = AdhocDayReport(day=day)
    start, end = day_bounds(day, day)
    with db.connect() as conn:
        jobs = job_rows.adhoc_jobs_between(conn, start, end)
    changed: list[int] = []
    with tempfile.TemporaryDirectory(prefix="vsl-adhoc-") as tmp:
        workdir = Path(tmp)
        for job in jobs:
            if not _to_collect(job):
                continue
            public_id = str(job.public_id)
            context = {
                "job_id": job.id,
                "user_id": job.user_id,
                "model_id": job.model_id,
                "media_type": job.media_type,
                "prediction_id": job.prediction_id,
            }
            if job.status != "succeeded":
                with db.connect() as conn:
                    job_rows.mark_collected(conn, job.id)
                report.failed.append(_failure_summary(job))
                changed.append(job.id)
                continue
            try:
                url = first_output_url(job.output)
                if url is None:
                    raise OutputExpired("the prediction succeeded with no output URL")
                ext = output_extension(url, job.media_type)
                source = download(url, workdir / f"{public_id}.{ext}")
                key, thumbnail_key = adhoc_keys(day.isoformat(), public_id, ext)
                stored = store_output(store, source, key, thumbnail_key, workdir)
                with db.connect() as conn:
                    record_stored_adhoc(conn, stored, job.id)
                    job_rows.record_output_cost(conn, job, stored.duration_s)
                    job_rows.mark_collected(conn, job.id)
                report.stored.append({"job_id": public_id, "key": stored.key})
                log.info(
                    "ad-hoc output collected", extra={**context, "fields": {"key": stored.key}}
                )
            except OutputExpired as exc:
                with db.connect() as conn:
                    job_rows.mark(conn, job.id, "expired", error=str(exc))
                    job_rows.mark_collected(conn, job.id)
                report.expired.append(public_id)
                log.warning("ad-hoc output expired before collection", extra=context)
            changed.append(job.id)
    status.publish(changed)
    _day_figures(db, report, start, end)
    return report


def _to_collect(job: job_rows.JobRow) -> bool:
    """Whether a day's collection takes the job: ended, not collected, not claimed by the
    service collecting it at its webhook."""
    return job.collected_at is None and job.status not in job_rows.ACTIVE and not job.claimed()


def _failure_summary(job: job_rows.JobRow) -> dict[str, Any]:
    return {"job_id": str(job.public_id), "status": job.status, "error": job.error}


def adhoc_failures(db: Database, day: date) -> AdhocDayReport:
    """What collecting the day would report as failed now, nothing marked reported: the check
    of an output stored outside a run (the webhook sensor records it)."""
    report = AdhocDayReport(day=day)
    start, end = day_bounds(day, day)
    with db.connect() as conn:
        jobs = job_rows.uncollected_adhoc_jobs_between(conn, start, end)
    report.failed = [
        _failure_summary(job) for job in jobs if _to_collect(job) and job.status != "succeeded"
    ]
    return report


def _day_figures(db: Database, report: AdhocDayReport, start: Any, end: Any) -> None:
    with db.connect() as conn:
        jobs = job_rows.adhoc_jobs_between(conn, start, end)
    for job in jobs:
        if job.status == "creating":
            continue
        report.jobs += 1
        report.estimated_usd += float(job.estimated_cost_usd)
        report.actual_usd += float(job.actual_cost_usd or 0)
        report.by_model[job.model_id] = report.by_model.get(job.model_id, 0) + 1
        user = job.user_id or ""
        report.by_user[user] = report.by_user.get(user, 0) + 1
        if job.status in job_rows.ACTIVE or (
            job.status == "succeeded" and job.collected_at is None
        ):
            report.waiting += 1
        elif job.status == "succeeded":
            report.completed += 1
        else:
            report.failed_total += 1
    report.estimated_usd = round(report.estimated_usd, 4)
    report.actual_usd = round(report.actual_usd, 4)
