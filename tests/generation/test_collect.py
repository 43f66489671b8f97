"""Collecting outputs from the sandbox: real downloads, probes and thumbnails; expiry handled."""

import time

from tests.fixtures.pipeline import wait_for_jobs
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.collect import collect_stage
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.progress import next_runs
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.services.generation import Submission
from vsl_pipelines.storage.local import LocalMediaStore


def test_keyframes_are_stored_probed_and_thumbnailed(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    submission.submit("spring-launch", "keyframe")
    wait_for_jobs(db, prediction_client, "spring-launch", "keyframe")
    report = collect_stage(db, media_store, "spring-launch", "keyframe", JobStatusLayers(db))
    assert sorted(t["section"] for t in report.takes) == ["close", "hook", "offer"]
    offer = next(t for t in report.takes if t["section"] == "offer")
    assert offer["key"] == "scripts/spring-launch/offer/keyframe-v1.png"
    probe = probe_media(media_store.local_path(offer["key"]))
    assert (probe.kind, probe.width, probe.height) == ("image", 1024, 576)  # sdxl width/height
    thumb = probe_media(media_store.local_path(offer["thumbnail"]))
    assert thumb.width == 320
    # Collecting again stores nothing new: every output is already collected.
    assert (
        collect_stage(db, media_store, "spring-launch", "keyframe", JobStatusLayers(db)).takes == []
    )


def test_an_expired_output_is_flagged_and_resubmitted(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    sandbox.knobs.output_ttl_s = 0.3
    submission.submit("spring-launch", "soundtrack")
    wait_for_jobs(db, prediction_client, "spring-launch", "soundtrack")
    time.sleep(1.0)  # past the output's time to live: the sandbox deletes it, as Replicate does
    report = collect_stage(db, media_store, "spring-launch", "soundtrack", JobStatusLayers(db))
    assert report.takes == [] and len(report.expired) == 1
    with db.connect() as conn:
        [job] = job_rows.latest_jobs(conn, "spring-launch", "soundtrack")
    assert job.status == "expired" and "gone" in job.error
    assert [r.step for r in next_runs(db, "spring-launch")] == ["requests"]

    sandbox.knobs.output_ttl_s = 3600
    again = submission.submit("spring-launch", "soundtrack")
    assert len(again.submitted) == 1
    wait_for_jobs(db, prediction_client, "spring-launch", "soundtrack")
    collected = collect_stage(db, media_store, "spring-launch", "soundtrack", JobStatusLayers(db))
    [take] = collected.takes
    assert take["key"] == "scripts/spring-launch/_script/soundtrack-v1.wav"
    audio = probe_media(media_store.local_path(take["key"]))
    assert audio.kind == "audio" and abs(audio.duration_s - 12.0) < 0.1
