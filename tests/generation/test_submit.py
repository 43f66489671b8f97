"""Submitting predictions through the real `replicate` client to the sandbox over HTTP."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient, PredictionCreateError
from vsl_pipelines.generation.stages import BudgetExceeded
from vsl_pipelines.generation.submit import SubmitReport
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.services.generation import Submission
from vsl_pipelines.storage.local import LocalMediaStore


def _sandbox_predictions(client: PredictionClient) -> list[dict]:
    since = datetime.now(UTC) - timedelta(hours=1)
    page = client._client._request(
        "GET", f"/v1/predictions?created_after={since.isoformat().replace('+00:00', 'Z')}"
    ).json()
    return page["results"]


def _jobs(db: Database) -> list[dict]:
    with db.connect() as conn:
        return job_rows.all_jobs(conn, "spring-launch")


def test_keyframes_are_submitted_once(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    report = submission.submit("spring-launch", "keyframe")
    assert sorted(p["section"] for p in report.submitted) == ["close", "hook", "offer"]
    again = submission.submit("spring-launch", "keyframe")
    assert again.count == 0 and again.skipped_active + again.skipped_done == 3
    jobs = _jobs(db)
    assert len(jobs) == 3 and all(j.prediction_id for j in jobs)
    remote = _sandbox_predictions(prediction_client)
    assert sorted(p["id"] for p in remote) == sorted(j.prediction_id for j in jobs)
    hook = next(j for j in jobs if j.section_id == "hook")
    assert hook.input["prompt"].startswith("a tired parent")
    assert hook.input["aspect_ratio"] == "16:9" and isinstance(hook.input["seed"], int)
    with db.connect() as conn:
        status = conn.execute("SELECT status FROM scripts").fetchone()["status"]
    assert status == "generating"


def test_clips_wait_for_their_keyframes(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    report = submission.submit("spring-launch", "clip")
    assert report.count == 0 and report.waiting_for_keyframe == 2
    assert _jobs(db) == []


def test_throttled_creates_are_retried(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    sandbox.knobs.throttle_next = 2
    report = submission.submit("spring-launch", "soundtrack")
    assert len(report.submitted) == 1
    assert len(_sandbox_predictions(prediction_client)) == 1


def test_a_lost_create_response_does_not_duplicate_the_prediction(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    sandbox.knobs.lose_response_next = 1
    report = submission.submit("spring-launch", "soundtrack")
    remote = _sandbox_predictions(prediction_client)
    assert len(remote) == 1, "the retry must find the prediction the lost response created"
    assert report.submitted[0]["prediction_id"] == remote[0]["id"]


def test_a_crash_between_reservation_and_creation_is_recovered(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    # The first run reserved the job and created the prediction, then died before recording it.
    submission.submit("spring-launch", "soundtrack")
    with db.connect() as conn:
        conn.execute("UPDATE jobs SET prediction_id = NULL, status = 'creating'")
    report = submission.submit("spring-launch", "soundtrack")
    assert len(report.recovered) == 1 and report.submitted == []
    assert len(_sandbox_predictions(prediction_client)) == 1
    assert _jobs(db)[0].prediction_id == report.recovered[0]["prediction_id"]


def test_two_runs_of_one_script_at_once_create_each_prediction_once(
    submission: Submission,
    db: Database,
    stored_script: Script,
    prediction_client: PredictionClient,
) -> None:
    """Both runs read that no take has a job, then wait on the workspace's lock (held here so
    both are sure to have read first); the one served second reads again and creates nothing."""
    reports: list[SubmitReport] = []
    with db.connect() as holder:
        holder.execute("SELECT 1 FROM workspaces FOR UPDATE")
        runs = [
            threading.Thread(
                target=lambda: reports.append(submission.submit("spring-launch", "keyframe"))
            )
            for _ in range(2)
        ]
        for run in runs:
            run.start()
        _wait_for_lock_waiters(db, 2)
    for run in runs:
        run.join(60)
    assert sorted(len(r.submitted) for r in reports) == [0, 3]
    assert sorted(r.skipped_active for r in reports) == [0, 3]
    jobs = _jobs(db)
    assert len(jobs) == 3 and {j.attempt for j in jobs} == {1}
    assert len(_sandbox_predictions(prediction_client)) == 3


def _wait_for_lock_waiters(db: Database, count: int, timeout_s: float = 30) -> None:
    """Until `count` sessions of this database wait on a lock."""
    deadline = time.monotonic() + timeout_s
    while True:
        with db.connect(autocommit=True) as conn:
            waiting = conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()["n"]
        if waiting >= count:
            return
        assert time.monotonic() < deadline, f"{waiting} of {count} runs reached the lock"
        time.sleep(0.05)


def test_over_budget_submits_nothing(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    with db.connect() as conn:
        conn.execute("UPDATE scripts SET document = jsonb_set(document, '{budget_usd}', '0.005')")
    with pytest.raises(BudgetExceeded, match=r"script 'spring-launch': budget \$0\.005,"):
        submission.submit("spring-launch", "keyframe")
    assert _jobs(db) == []
    assert _sandbox_predictions(prediction_client) == []


def test_a_refused_create_fails_the_job_with_a_clear_error(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    sandbox.knobs.error_next = 10
    with pytest.raises(PredictionCreateError, match="failed 6 times"):
        submission.submit("spring-launch", "soundtrack")
    [job] = _jobs(db)
    assert job.status == "failed" and "r8_" not in (job.error or "")
    sandbox.knobs.error_next = 0
    retry = submission.submit("spring-launch", "soundtrack")
    assert len(retry.submitted) == 1
    assert [j.attempt for j in _jobs(db)] == [1, 2]
