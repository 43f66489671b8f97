"""Collect finished predictions: download outputs promptly, store, probe, thumbnail, record takes.

Replicate deletes outputs an hour after a prediction ends; an output already gone marks the
job `expired`, which the asset check flags and the request asset resubmits.
"""

from __future__ import annotations

import mimetypes
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow
from vsl_pipelines.db.soundtracks import soundtrack_take
from vsl_pipelines.db.takes import TakeRow
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.storage.base import MediaStore, media_key

log = get_logger(__name__)
_DEFAULT_EXT = {"image": "png", "video": "mp4", "audio": "wav"}


class OutputExpired(RuntimeError):
    pass


@dataclass
class CollectReport:
    stage: str
    takes: list[dict[str, Any]] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    waiting: int = 0
    script_status: str = ""
    script_error: str | None = None


def first_output_url(output: Any) -> str | None:
    if isinstance(output, str):
        return output
    if isinstance(output, list) and output and isinstance(output[0], str):
        return output[0]
    return None


def download(url: str, dest: Path, timeout_s: float = 120.0) -> Path:
    """Stream an output to disk; a 404/410 means Replicate already deleted it."""
    import httpx  # the media modules and httpx are imported by the runs that collect

    with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
        if response.status_code in (404, 410):
            raise OutputExpired(f"output is gone ({response.status_code})")
        response.raise_for_status()
        with dest.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
    return dest


def output_extension(url: str, media_type: str) -> str:
    """The output file's extension from its URL, else the media type's usual one."""
    suffix = Path(urlparse(url).path).suffix.lstrip(".").lower()
    return suffix if suffix.isalnum() and len(suffix) <= 5 else _DEFAULT_EXT[media_type]


@dataclass(frozen=True)
class StoredOutput:
    """A file put in the media store, probed, with its thumbnail (images and videos)."""

    key: str
    thumbnail_key: str | None
    probe: dict[str, Any]
    duration_s: float | None
    size_bytes: int
    content_type: str | None


def store_output(
    store: MediaStore, source: Path, key: str, thumbnail_key: str, workdir: Path
) -> StoredOutput:
    """Probe `source`, put it under `key` and, for a picture, its thumbnail under
    `thumbnail_key`."""
    from vsl_pipelines.media.probe import probe_media
    from vsl_pipelines.media.thumbnails import make_thumbnail

    probe = probe_media(source)
    store.put_file(key, source)
    thumb_key = None
    if probe.kind in ("video", "image"):
        thumb = make_thumbnail(source, workdir / f"{source.stem}-thumb.jpg")
        store.put_file(thumbnail_key, thumb)
        thumb_key = thumbnail_key
    return StoredOutput(
        key=key,
        thumbnail_key=thumb_key,
        probe=probe.model_dump(mode="json"),
        duration_s=probe.duration_s,
        size_bytes=probe.size_bytes,
        content_type=mimetypes.guess_type(key)[0],
    )


def take_keys(script_id: str, section_id: str, stage: str, take: int, ext: str) -> tuple[str, str]:
    """A take's key and its thumbnail's (collected by a run or at the webhook alike)."""
    return (
        media_key(script_id, section_id, stage, take, ext),
        media_key(script_id, section_id, f"{stage}-thumb", take, "jpg"),
    )


def adhoc_keys(day: str, public_id: str, ext: str) -> tuple[str, str]:
    """A one-off output's key and its thumbnail's, under its UTC day (`YYYY-MM-DD`)."""
    return f"adhoc/{day}/{public_id}.{ext}", f"adhoc/{day}/{public_id}-thumb.jpg"


def record_stored_take(
    conn: Any,
    stored: StoredOutput,
    *,
    script_id: str,
    section_id: str,
    stage: str,
    take: int,
    job_id: int | None,
) -> TakeRow:
    """The take row of an output `store_output` stored."""
    return take_rows.record_take(
        conn,
        script_id=script_id,
        section_id=section_id,
        stage=stage,
        take=take,
        job_id=job_id,
        **_stored_columns(stored),
    )


def record_stored_adhoc(conn: Any, stored: StoredOutput, job_id: int) -> TakeRow:
    """The take row of a one-off job's output `store_output` stored."""
    return take_rows.record_adhoc_take(conn, job_id=job_id, **_stored_columns(stored))


def _stored_columns(stored: StoredOutput) -> dict[str, Any]:
    return {
        "media_key": stored.key,
        "thumbnail_key": stored.thumbnail_key,
        "probe": stored.probe,
        "duration_s": stored.duration_s,
        "size_bytes": stored.size_bytes,
        "content_type": stored.content_type,
    }


def _store_take(
    conn: Any,
    store: MediaStore,
    source: Path,
    *,
    script_id: str,
    section_id: str,
    stage: str,
    take: int,
    job_id: int | None,
    ext: str,
    workdir: Path,
) -> TakeRow:
    key, thumbnail_key = take_keys(script_id, section_id, stage, take, ext)
    stored = store_output(store, source, key, thumbnail_key, workdir)
    return record_stored_take(
        conn,
        stored,
        script_id=script_id,
        section_id=section_id,
        stage=stage,
        take=take,
        job_id=job_id,
    )


def collect_stage(
    db: Database,
    store: MediaStore,
    script_id: str,
    stage: str,
    status: JobStatusLayers,
) -> CollectReport:
    """Store every succeeded, uncollected output of `stage` for the current takes; the jobs'
    final documents go to the `status` layers."""
    report = CollectReport(stage=stage)
    with db.connect() as conn:
        row = script_rows.script_row(conn, script_id)
        report.script_status, report.script_error = row.status, row.error
        sections = script_rows.sections_of(conn, script_id)
        current = {s.id: s.current_take for s in sections}
        # Each job against its own take: a narration has its own (`narration_take`).
        taken = {s.id: s.narration_take for s in sections} if stage == "narration" else current
        jobs = job_rows.latest_jobs(conn, script_id, stage)
        script = script_rows.load_stored_script(conn, script_id)
        for failure in _failures_to_report(conn, script_id, stage, jobs, taken):
            report.failed.append(_failure_summary(failure))
            if failure.collected_at is None:
                job_rows.mark_collected(conn, failure.id)
    with tempfile.TemporaryDirectory(prefix="vsl-collect-") as tmp:
        workdir = Path(tmp)
        for job in jobs:
            if job.section_id and job.take != taken.get(job.section_id):
                continue
            context = {
                "script_id": script_id,
                "section_id": job.section_id,
                "job_id": job.id,
                "model_id": job.model_id,
                "prediction_id": job.prediction_id,
            }
            if job.status in job_rows.ACTIVE:
                report.waiting += 1
                continue
            if job.status != "succeeded":
                continue
            if job.collected_at is not None:
                continue
            if job.claimed():  # the service is collecting it at its webhook
                report.waiting += 1
                continue
            url = first_output_url(job.output)
            try:
                if url is None:
                    raise OutputExpired("the prediction succeeded with no output URL")
                ext = output_extension(url, job.media_type)
                source = download(url, workdir / f"{job.id}.{ext}")
                with db.connect() as conn:
                    take = _store_take(
                        conn,
                        store,
                        source,
                        script_id=script_id,
                        section_id=job.section_id,
                        stage=stage,
                        take=job.take,
                        job_id=job.id,
                        ext=ext,
                        workdir=workdir,
                    )
                    job_rows.record_output_cost(conn, job, take.duration_s)
                    job_rows.mark_collected(conn, job.id)
                report.takes.append(_take_summary(take))
                log.info("output collected", extra={**context, "fields": {"key": take.media_key}})
            except OutputExpired as exc:
                with db.connect() as conn:
                    job_rows.mark(conn, job.id, "expired", error=str(exc))
                    job_rows.mark_collected(conn, job.id)  # reported here
                report.expired.append(job.id)
                log.warning("output expired before collection", extra=context)
        if stage == "clip":
            report.takes.extend(_render_stills(db, store, script, current, workdir))
    status.publish(
        [t["job_id"] for t in report.takes if t["job_id"] is not None]
        + report.expired
        + [f["job_id"] for f in report.failed]
    )
    return report


def _failures_to_report(
    conn: Any, script_id: str, stage: str, latest: list[JobRow], taken: dict[str, int]
) -> list[JobRow]:
    """The current takes' failed or expired attempts a collection reports: each once even if a
    retry already replaced it as the latest attempt, and a take's latest while it is failed."""
    failures = {j.id: j for j in job_rows.unreported_failures(conn, script_id, stage)}
    failures.update({j.id: j for j in latest if j.status in job_rows.RETRYABLE})
    return [
        f for f in failures.values() if not (f.section_id and f.take != taken.get(f.section_id))
    ]


def _failure_summary(failure: JobRow) -> dict[str, Any]:
    return {
        "job_id": failure.id,
        "section": failure.section_id,
        "attempt": failure.attempt,
        "status": failure.status,
        "error": failure.error,
    }


def stage_failures(db: Database, script_id: str, stage: str) -> CollectReport:
    """What collecting the stage would report as failed now, nothing marked reported: the
    check of an output stored outside a run (the webhook sensor records it)."""
    report = CollectReport(stage=stage)
    with db.connect() as conn:
        row = script_rows.script_row(conn, script_id)
        report.script_status, report.script_error = row.status, row.error
        sections = script_rows.sections_of(conn, script_id)
        take_of = "narration_take" if stage == "narration" else "current_take"
        taken = {s.id: getattr(s, take_of) for s in sections}
        latest = job_rows.latest_jobs(conn, script_id, stage)
        report.failed = [
            _failure_summary(f) for f in _failures_to_report(conn, script_id, stage, latest, taken)
        ]
    return report


def render_missing_stills(db: Database, store: MediaStore, script_id: str) -> list[dict[str, Any]]:
    """The clips of still sections whose current keyframe is stored and clip is not."""
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        current = {s.id: s.current_take for s in script_rows.sections_of(conn, script_id)}
    if not any(section.still is not None for section in script.sections):
        return []
    with tempfile.TemporaryDirectory(prefix="vsl-stills-") as tmp:
        return _render_stills(db, store, script, current, Path(tmp))


def _render_stills(
    db: Database, store: MediaStore, script: Any, current: dict[str, int], workdir: Path
) -> list[dict[str, Any]]:
    """A still section's clip is its keyframe held on screen, made locally with no paid call."""
    from vsl_pipelines.media.stills import still_to_clip

    made = []
    with db.connect() as conn:
        for section in script.sections:
            if section.still is None:
                continue
            take = current[section.id]
            if take_rows.take_of(conn, script.id, section.id, "clip", take) is not None:
                continue
            keyframe = take_rows.take_of(conn, script.id, section.id, "keyframe", take)
            if keyframe is None:
                continue
            width = int(keyframe.probe["width"]) // 2 * 2
            height = int(keyframe.probe["height"]) // 2 * 2
            clip = still_to_clip(
                store.local_path(keyframe.media_key),
                workdir / f"still-{section.id}.mp4",
                duration_s=section.still.duration_s,
                width=width,
                height=height,
                zoom=section.still.zoom,
            )
            row = _store_take(
                conn,
                store,
                clip,
                script_id=script.id,
                section_id=section.id,
                stage="clip",
                take=take,
                job_id=None,
                ext="mp4",
                workdir=workdir,
            )
            conn.commit()
            made.append(_take_summary(row))
    return made


def _take_summary(take: TakeRow) -> dict[str, Any]:
    return {
        "job_id": take.job_id,
        "section": take.section_id,
        "stage": take.stage,
        "take": take.take,
        "key": take.media_key,
        "thumbnail": take.thumbnail_key,
        "duration_s": take.duration_s,
    }


def review_ready(db: Database, script_id: str) -> bool:
    """Every section has a clip for its current take (and, when it has a voice, its narration
    for its current narration take) and the soundtrack (if any) is stored."""
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        sections = script_rows.sections_of(conn, script_id)
        current = {s.id: s.current_take for s in sections}
        narration_take = {s.id: s.narration_take for s in sections}
        clips = {(t.section_id, t.take) for t in take_rows.takes_of(conn, script_id, "clip")}
        narrations = {
            (t.section_id, t.take) for t in take_rows.takes_of(conn, script_id, "narration")
        }
        has_soundtrack = (
            take_rows.take_of(conn, script_id, "", "soundtrack", soundtrack_take(conn, script_id))
            is not None
        )
    voiced = {s.id for s in script.sections if script.voice_of(s) is not None}
    return (
        all((sid, take) in clips for sid, take in current.items())
        and all((sid, narration_take[sid]) in narrations for sid in voiced if sid in current)
        and (script.soundtrack is None or has_soundtrack)
    )


def advance_to_review(db: Database, script_id: str) -> bool:
    """Move a generating script to `review` once every section has its clip; True if it moved."""
    if not review_ready(db, script_id):
        return False
    with db.connect() as conn:
        return script_rows.move_status(conn, script_id, "review", ("queued", "generating"))
