"""Storing a claimed job's output where its final webhook was accepted (the service), under the
key a collecting run would use, and recording it once.

`progress.apply_final_event` claims the job as it moves it to `succeeded`; this stores the
output and marks it collected only if nothing collected it meanwhile. Whatever goes wrong
releases the claim: the collecting runs take the job over, as they do when a claim lapses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, date
from pathlib import Path

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import DueMaterialization, JobRow
from vsl_pipelines.domain.stages import Stage
from vsl_pipelines.generation.adhoc import adhoc_failures
from vsl_pipelines.generation.collect import (
    OutputExpired,
    StoredOutput,
    adhoc_keys,
    download,
    first_output_url,
    output_extension,
    record_stored_adhoc,
    record_stored_take,
    stage_failures,
    store_output,
    take_keys,
)
from vsl_pipelines.generation.failure_checks import FailureCheck, adhoc_check, stage_check
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.storage.base import MediaStore

log = get_logger(__name__)

# Called with "stored" (the file is in the store) and "recorded" (the job is marked collected),
# before its status is published: where a test stops the process.
StepHook = Callable[[str], None]


def output_keys(job: JobRow, ext: str) -> tuple[str, str]:
    """Where a run would store the job's output and its thumbnail: an ad-hoc output under its
    UTC day (as `collect_adhoc_day`), a take under its script (as `collect_stage`)."""
    if job.script_id is None:
        day = job.created_at.astimezone(UTC).date().isoformat()
        return adhoc_keys(day, str(job.public_id), ext)
    return take_keys(job.script_id, job.section_id, job.stage, job.take, ext)


def _is_current_take(db: Database, job: JobRow) -> bool:
    if job.script_id is None:
        return True
    with db.connect() as conn:
        sections = {s.id: s for s in script_rows.sections_of(conn, job.script_id)}
    section = sections.get(job.section_id)
    if section is None:
        return job.section_id == ""  # the soundtrack belongs to no section
    taken = section.narration_take if job.stage == "narration" else section.current_take
    return job.take == taken


def store_claimed_output(
    db: Database, store: MediaStore, job_id: int, on_step: StepHook | None = None
) -> JobRow | None:
    """Store the output of a job this process claimed; the job when this call recorded it,
    None when it was not ours to store (collected already, not the current take, no longer
    claimed) or could not be (the claim is released and the runs take it over)."""
    with db.connect() as conn:
        job = job_rows.job_by_id(conn, job_id)
    if job is None or job.status != "succeeded" or job.collected_at is not None:
        return None
    if not job.claimed() or not _is_current_take(db, job):
        release_claim(db, job.id)
        return None
    context = {
        "job_id": job.id,
        "script_id": job.script_id,
        "section_id": job.section_id or None,
        "model_id": job.model_id,
        "user_id": job.user_id,
        "prediction_id": job.prediction_id,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="vsl-webhook-collect-") as tmp:
            workdir = Path(tmp)
            url = first_output_url(job.output)
            if url is None:
                raise OutputExpired("the prediction succeeded with no output URL")
            ext = output_extension(url, job.media_type)
            source = download(url, workdir / f"{job.public_id}.{ext}")
            key, thumbnail_key = output_keys(job, ext)
            stored = store_output(store, source, key, thumbnail_key, workdir)
        if on_step:
            on_step("stored")
        if not _record(db, job, stored):
            log.info("output collected elsewhere first", extra=context)
            return None
    except Exception as exc:  # the runs collect it (and report an output gone) instead
        release_claim(db, job.id)
        log.warning(
            "collecting at the webhook failed; left to the collecting runs",
            extra={**context, "fields": {"error": f"{type(exc).__name__}: {exc}"}},
        )
        return None
    if on_step:
        on_step("recorded")
    log.info("output collected at its webhook", extra={**context, "fields": {"key": stored.key}})
    return job


def _record(db: Database, job: JobRow, stored: StoredOutput) -> bool:
    """The take and the job's collection in one transaction, only if no one collected it."""
    with db.transaction() as conn:
        # An ad-hoc job is done here; a take is held until what follows it is done too.
        if not job_rows.record_collected(conn, job.id, release=job.script_id is None):
            return False
        if job.script_id is None:
            record_stored_adhoc(conn, stored, job.id)
        else:
            record_stored_take(
                conn,
                stored,
                script_id=job.script_id,
                section_id=job.section_id,
                stage=job.stage,
                take=job.take,
                job_id=job.id,
            )
        job_rows.record_output_cost(conn, job, stored.duration_s)
    return True


def release_claim(db: Database, job_id: int) -> None:
    """Give the job back to the collecting runs and the sensor (done with it, or failed)."""
    with db.connect() as conn:
        job_rows.release_claim(conn, job_id)


def outside_run_outputs(
    db: Database, status: JobStatusLayers, recorded: list[int], limit: int
) -> list[DueMaterialization]:
    """The outputs collected here that Dagster does not hold yet: `recorded` (those whose
    events Dagster has stored) marked so first. Their documents are published again, in case
    the collecting process died before it did."""
    with db.connect() as conn:
        job_rows.materializations_recorded(conn, recorded)
        due = job_rows.materializations_due(conn, limit)
    status.publish([d.id for d in due])
    return due


ADHOC = "adhoc"  # the failure check's key for an ad-hoc output: (ADHOC, its UTC day)


def output_partition(output: DueMaterialization) -> tuple[str, str]:
    """(stage or ADHOC, partition) of an output collected here: its script's stage, or for an
    ad-hoc output its UTC day."""
    if output.script_id is None:
        return ADHOC, output.created_at.astimezone(UTC).date().isoformat()
    return output.stage, output.script_id


def failure_checks(
    db: Database, outputs: list[DueMaterialization]
) -> dict[tuple[str, str], FailureCheck]:
    """The failure check of each partition the outputs (and a still section's clip rendered
    from a keyframe) are recorded in, as a collecting run of it would report it now: the same
    rule over the failures it would report, none of them marked reported."""
    keys = {output_partition(o) for o in outputs}
    keys |= {(Stage.CLIP.value, o.script_id) for o in outputs if o.still_clip_key and o.script_id}
    checks = {}
    for stage, partition in sorted(keys):
        if stage == ADHOC:
            checks[stage, partition] = adhoc_check(
                adhoc_failures(db, date.fromisoformat(partition))
            )
        else:
            try:
                report = stage_failures(db, partition, stage)
            except script_rows.ScriptNotFound:  # deleted since: its jobs are gone with it
                continue
            checks[stage, partition] = stage_check(report, report.script_status)
    return checks


def materializations_sent(db: Database, job_ids: list[int]) -> None:
    """The sensor returns these outputs' events now (recorded before it returns them)."""
    with db.connect() as conn:
        job_rows.materializations_sent(conn, job_ids)


def materializations_held(db: Database, job_ids: list[int]) -> None:
    """Dagster holds every event of these outputs (found in its event log)."""
    with db.connect() as conn:
        job_rows.materializations_recorded(conn, job_ids)
