"""Collecting at the webhook (`services/webhook_collection.py`), on the sandbox, the service and
PostgreSQL and Redis: an ad-hoc output completed with no tick and no run, then recorded in
Dagster as its day's materialization with the check its run would report (failing while a
failure of its day is unreported); recorded once when the daemon dies between storing a
tick's events and its cursor; a collecting process killed between storing an output and
publishing its status; a still section's take reaching the review queue."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from tests.fixtures.adhoc import AdhocService, wait_for_webhooks
from tests.fixtures.sandbox import SANDBOX_TOKEN
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.defs.generation.sensors import build_webhook_sensor, parse_cursor
from vsl_pipelines.defs.resources import (
    DatabaseResource,
    InboxResource,
    PacingResource,
    ReplicateResource,
)
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.collect import collect_stage, stage_failures
from vsl_pipelines.generation.failure_checks import stage_check
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.storage.local import LocalMediaStore

FLUX = {
    "userId": "integrator",
    "mediaType": "image",
    "modelId": "flux-schnell",
    "parameters": {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9"},
}


def _job(db: Database, public_id: str) -> job_rows.JobRow:
    with db.connect() as conn:
        row = conn.execute("SELECT id FROM jobs WHERE public_id = %s", (public_id,)).fetchone()
        assert row is not None
        job = job_rows.job_by_id(conn, row["id"])
    assert job is not None
    return job


def _takes_of_job(db: Database, job_id: int) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM takes WHERE job_id = %s", (job_id,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


def _until(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _materializations(instance: dg.DagsterInstance, asset: str) -> list[tuple[str | None, Any]]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=20).records
    return [
        (r.partition_key, r.asset_materialization.metadata["job_id"].value)
        for r in records
        if r.asset_materialization is not None
    ]


ADHOC_CHECK = ("adhoc_media", "no_failed_or_expired_adhoc_media")


def _check_evaluations(
    instance: dg.DagsterInstance, asset: str, check: str
) -> list[tuple[str | None, Any, bool]]:
    """(partition, job id or None for a run's, passed) of each evaluation of the check, newest
    first (not a run's planned one)."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=20
    )
    found: list[tuple[Any, Any, bool]] = []
    for record in history:
        assert record.event is not None and record.event.dagster_event is not None
        evaluation = record.event.dagster_event.event_specific_data
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue  # a run's planned evaluation (its result is a row of its own)
        job = evaluation.metadata.get("job_id")
        # The sensor's name their partition in metadata (see defs/checks.py).
        named = evaluation.metadata.get("partition")
        partition = named.value if named else evaluation.partition
        found.append((partition, job.value if job else None, evaluation.passed))
    return found


def _evaluate(adhoc: AdhocService, instance: dg.DagsterInstance) -> dg.SensorResult:
    """The webhook sensor evaluated from the fixture's cursor, nothing stored: what the daemon
    gets back before it stores the events and then the cursor."""
    resources = {
        "database": DatabaseResource(url=adhoc.db.url),
        "inbox": InboxResource(database=DatabaseResource(url=adhoc.db.url)),
        "replicate": ReplicateResource(
            base_url=adhoc.sandbox.base_url.removesuffix("/v1"), api_token=SANDBOX_TOKEN
        ),
        "pacing": PacingResource(),
        "job_status": adhoc.job_status,
    }
    with dg.build_sensor_context(
        cursor=adhoc.sensor_cursor, resources=resources, instance=instance
    ) as context:
        result = build_webhook_sensor()(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _kinds(result: dg.SensorResult) -> list[str]:
    return [type(event).__name__ for event in result.asset_events]


def test_an_adhoc_output_is_completed_at_its_webhook_and_recorded_in_dagster(
    adhoc_collecting: AdhocService,
) -> None:
    adhoc = adhoc_collecting
    adhoc.sandbox.knobs.latency_s = 0
    public_id = adhoc.generate(FLUX).json()["jobId"]
    # No sensor tick and no run: the service stored it as the webhook came.
    _until(lambda: adhoc.status_of(public_id)["status"] == "completed")
    done = adhoc.status_of(public_id)
    assert httpx.get(done["result"]["originalUrl"]).status_code == 200
    job = _job(adhoc.db, public_id)
    assert job.collected_at is not None and job.materialization_due and not job.claimed()
    today = datetime.now(UTC).date().isoformat()

    with dg.instance_for_test() as instance:
        first = adhoc.sensor_tick(instance)
        assert first.run_requests == [], "collected already: no collect_adhoc run"
        assert _materializations(instance, "adhoc_media") == [(today, job.id)]
        # With the check its day's run reports: nothing of the day failed.
        assert _check_evaluations(instance, *ADHOC_CHECK) == [(today, job.id, True)]
        # The next tick reads from its cursor that Dagster holds it: never recorded twice.
        second = adhoc.sensor_tick(instance)
        assert (second.run_requests, second.asset_events) == ([], [])
        assert _materializations(instance, "adhoc_media") == [(today, job.id)]
        assert _check_evaluations(instance, *ADHOC_CHECK) == [(today, job.id, True)]
    assert not _job(adhoc.db, public_id).materialization_due
    assert _takes_of_job(adhoc.db, job.id) == 1


def test_an_adhoc_output_s_check_fails_while_a_failure_of_its_day_is_unreported(
    adhoc_collecting: AdhocService,
) -> None:
    """A failed prediction of the day no run has reported yet: the check recorded with an
    output collected at its webhook fails and names it, as the day's run then reports it too;
    once reported, the next output's check passes, as the next run's would."""
    adhoc = adhoc_collecting
    adhoc.sandbox.knobs.latency_s = 0
    adhoc.sandbox.knobs.fail_next = 1
    failed_id = adhoc.generate(FLUX).json()["jobId"]
    wait_for_webhooks(adhoc.inbox, 1)
    public_id = adhoc.generate(FLUX).json()["jobId"]
    _until(lambda: adhoc.status_of(public_id)["status"] == "completed")
    job = _job(adhoc.db, public_id)
    failed = _job(adhoc.db, failed_id)
    today = datetime.now(UTC).date().isoformat()

    with dg.instance_for_test() as instance:
        tick = adhoc.sensor_tick(instance)
        # The failure is left to the day's run; the output is recorded with a failing check.
        assert [(r.job_name, r.partition_key) for r in tick.run_requests or []] == [
            ("collect_adhoc", today)
        ]
        assert _materializations(instance, "adhoc_media") == [(today, job.id)]
        assert _check_evaluations(instance, *ADHOC_CHECK) == [(today, job.id, False)]
        [evaluation] = [e for e in tick.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        failures: Any = evaluation.metadata["failed"].value
        named = [f["job_id"] for f in failures]
        assert named == [failed_id] and failed.status == "failed"

        run = adhoc.collect(instance, today)
        [reported] = run.get_asset_check_evaluations()
        assert not reported.passed
        assert reported.metadata["failed"].value == evaluation.metadata["failed"].value

        after_id = adhoc.generate(FLUX).json()["jobId"]
        _until(lambda: adhoc.status_of(after_id)["status"] == "completed")
        after = _job(adhoc.db, after_id)
        adhoc.sensor_tick(instance)
        assert _check_evaluations(instance, *ADHOC_CHECK) == [
            (today, after.id, True),
            (None, None, False),  # the run's (a run's result names no partition in 1.13)
            (today, job.id, False),
        ]


@pytest.mark.parametrize("stored", [0, 1, 2])
def test_a_daemon_killed_before_storing_the_cursor_records_each_output_once(
    adhoc_collecting: AdhocService, stored: int
) -> None:
    """The daemon stores a tick's events one by one, then its cursor; killed after `stored`
    of the two events (materialization, check), the sensor is evaluated again from the same
    cursor: it returns only what the event log lacks, and each output is recorded once."""
    adhoc = adhoc_collecting
    adhoc.sandbox.knobs.latency_s = 0
    public_id = adhoc.generate(FLUX).json()["jobId"]
    _until(lambda: adhoc.status_of(public_id)["status"] == "completed")
    job = _job(adhoc.db, public_id)
    today = datetime.now(UTC).date().isoformat()

    with dg.instance_for_test() as instance:
        killed = _evaluate(adhoc, instance)
        assert _kinds(killed) == ["AssetMaterialization", "AssetCheckEvaluation"]
        for event in killed.asset_events[:stored]:
            instance.report_runless_asset_event(event)
        # Restarted: the cursor is the one before the killed tick.
        again = _evaluate(adhoc, instance)
        assert again.asset_events == killed.asset_events[stored:]
        for event in again.asset_events:
            instance.report_runless_asset_event(event)
        adhoc.sensor_cursor = again.cursor
        assert adhoc.sensor_tick(instance).asset_events == []
        assert _materializations(instance, "adhoc_media") == [(today, job.id)]
        assert _check_evaluations(instance, *ADHOC_CHECK) == [(today, job.id, True)]
    assert not _job(adhoc.db, public_id).materialization_due


def test_every_event_stored_before_the_kill_leaves_nothing_to_record_again(
    adhoc_collecting: AdhocService,
) -> None:
    """Killed once the tick's events are all stored, not its cursor: the next evaluation finds
    them in the event log, returns nothing and marks the job recorded."""
    adhoc = adhoc_collecting
    adhoc.sandbox.knobs.latency_s = 0
    public_id = adhoc.generate(FLUX).json()["jobId"]
    _until(lambda: adhoc.status_of(public_id)["status"] == "completed")
    job = _job(adhoc.db, public_id)
    today = datetime.now(UTC).date().isoformat()

    with dg.instance_for_test() as instance:
        killed = _evaluate(adhoc, instance)
        for event in killed.asset_events:
            instance.report_runless_asset_event(event)
        again = _evaluate(adhoc, instance)
        assert again.asset_events == [] and parse_cursor(again.cursor)[1] == []
        assert not _job(adhoc.db, public_id).materialization_due
        assert _materializations(instance, "adhoc_media") == [(today, job.id)]
        assert _check_evaluations(instance, *ADHOC_CHECK) == [(today, job.id, True)]


# The collecting process, on its own: it applies the webhook, stores the output and is killed
# at the step named, before it could publish the job's status.
CHILD = """
import os, signal, sys
import redis
from vsl_pipelines.db.database import Database
from vsl_pipelines.defs.generation.sensors import build_webhook_sensor, parse_cursor
from vsl_pipelines.defs.resources import (
    DatabaseResource,
    InboxResource,
    PacingResource,
    ReplicateResource,
)
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.redis_documents import RedisStatusDocuments
from vsl_pipelines.services.notifications import StudioLinks
from vsl_pipelines.services.webhook_collection import WebhookCollector
from vsl_pipelines.storage.local import LocalMediaStore
from pathlib import Path

url, root, media_url, redis_url, prefix, kill_at = sys.argv[1:7]
db = Database(url)
status = JobStatusLayers(
    db, [RedisStatusDocuments(redis.Redis.from_url(redis_url, decode_responses=True), prefix)]
)

def stop(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

collector = WebhookCollector(
    db, LocalMediaStore(Path(root), media_url), status, StudioLinks(media_url),
    claim_for_s=0.5, on_step=stop,
)
collector.collect(sys.stdin.read())
"""


@pytest.mark.parametrize("killed_at", ["stored", "recorded"])
def test_a_collector_killed_before_publishing_still_completes_the_job_once(
    adhoc: AdhocService, killed_at: str
) -> None:
    """Killed once the file is stored (the claim lapses, the day's run collects it, under the
    same key) or once the job is marked collected (the sensor publishes it and records it)."""
    adhoc.sandbox.knobs.latency_s = 0
    public_id = adhoc.generate(FLUX).json()["jobId"]
    wait_for_webhooks(adhoc.inbox, 1)
    [event] = adhoc.inbox.read_after(0, 10)
    args = [adhoc.db.url, str(adhoc.media_root), f"{adhoc.url}/media"]
    args += [adhoc.job_status.redis_url or "", adhoc.job_status.redis_prefix, killed_at]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        input=event.body,
        text=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    job = _job(adhoc.db, public_id)
    assert job.status == "succeeded"
    assert (job.collected_at is not None) == (killed_at == "recorded")
    assert adhoc.status_of(public_id)["status"] == "pending", "killed before publishing"
    time.sleep(0.6)  # the claim lapses
    today = datetime.now(UTC).date().isoformat()

    with dg.instance_for_test() as instance:
        tick = adhoc.sensor_tick(instance)
        if killed_at == "stored":
            # Left to the runs: the day's collecting run stores it, as if no one had tried.
            assert [(r.job_name, r.partition_key) for r in tick.run_requests or []] == [
                ("collect_adhoc", today)
            ]
            assert tick.asset_events == []
            result = adhoc.collect(instance, today)
            [materialization] = result.asset_materializations_for_node("adhoc_media")
            assert materialization.metadata["stored_now"].value == 1
        else:
            # Collected: the sensor publishes its status and records it; no run.
            assert tick.run_requests == []
            assert _materializations(instance, "adhoc_media") == [(today, job.id)]
        assert adhoc.sensor_tick(instance).run_requests == []
        assert (
            len(instance.fetch_materializations(dg.AssetKey("adhoc_media"), limit=5).records) == 1
        )

    done = adhoc.status_of(public_id)
    assert done["status"] == "completed"
    assert httpx.get(done["result"]["originalUrl"]).status_code == 200
    assert _takes_of_job(adhoc.db, job.id) == 1
    assert not _job(adhoc.db, public_id).materialization_due


def test_a_still_sections_keyframe_reaches_the_review_queue_at_its_webhook(
    adhoc_collecting: AdhocService,
    stored_script: Script,
    make_image: Callable[..., Path],
) -> None:
    """The still's clip is rendered from the keyframe where the webhook came in; the sensor
    records the keyframe as `keyframes` for the script and asks for no keyframes run."""
    adhoc = adhoc_collecting
    assert adhoc.collector is not None
    shutil.copyfile(make_image(320, 180), adhoc.media_root / "made-offer.png")
    with adhoc.db.connect() as conn:
        conn.execute("UPDATE scripts SET status = 'generating' WHERE id = %s", (stored_script.id,))
        job = job_rows.reserve_job(
            conn,
            script_id=stored_script.id,
            section_id="offer",
            stage="keyframe",
            take=1,
            model_id="flux-schnell",
            model_input={"prompt": "x"},
            estimated_cost_usd=0.003,
            pricing={"basis": "output", "usd": 0.003},
        )
        job_rows.attach_prediction(conn, job.id, {"id": "p-offer", "status": "processing"})
    body = (
        '{"id": "p-offer", "status": "succeeded", "metrics": {"predict_time": 0.5},'
        f' "output": ["{adhoc.url}/media/made-offer.png"]}}'
    )
    adhoc.collector.collect(body)

    with adhoc.db.connect() as conn:
        queue = review_queue(conn, stored_script.id)
    assert [(i["section"], i["subject"], i["take"]) for i in queue] == [("offer", "clip", 1)]
    with adhoc.db.connect() as conn:
        keyframe = job_rows.job_by_id(conn, job.id)
    assert keyframe is not None and keyframe.collected_at is not None and not keyframe.claimed()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("scripts", [stored_script.id])
        tick = adhoc.sensor_tick(instance)
        assert not any(r.job_name == "collect_keyframes" for r in tick.run_requests or [])
        assert _materializations(instance, "keyframes") == [(stored_script.id, job.id)]
        # The still's clip, rendered from it, is recorded as `clips` for the script.
        assert _materializations(instance, "clips") == [(stored_script.id, job.id)]
        # Each with its stage's check, as the keyframes and clips runs report it.
        for asset in ("keyframes", "clips"):
            evaluations = _check_evaluations(instance, asset, "no_failed_or_expired_generations")
            assert evaluations == [(stored_script.id, job.id, True)]


def test_a_stage_s_check_at_the_webhook_reads_the_failures_its_run_would_report(
    db: Database, stored_script: Script, tmp_path: Path
) -> None:
    """The sensor's stage check names a failed keyframe of a current take as the keyframes run
    would, and marks nothing: the run still reports it (an error once the script failed)."""
    with db.connect() as conn:
        job = job_rows.reserve_job(
            conn,
            script_id=stored_script.id,
            section_id="hook",
            stage="keyframe",
            take=1,
            model_id="flux-schnell",
            model_input={"prompt": "x"},
            estimated_cost_usd=0.003,
            pricing={"basis": "output", "usd": 0.003},
        )
        job_rows.mark(conn, job.id, "failed", error="NSFW content detected")
    pending = stage_failures(db, stored_script.id, "keyframe")
    check = stage_check(pending, pending.script_status)
    assert not check.passed and not check.error
    assert [(f["job_id"], f["status"]) for f in check.failed] == [(job.id, "failed")]
    ran = collect_stage(
        db,
        LocalMediaStore(tmp_path, "http://x/media"),
        stored_script.id,
        "keyframe",
        JobStatusLayers(db),
    )
    assert ran.failed == check.failed, "the run reports what the sensor's check named"
    with db.connect() as conn:
        conn.execute(
            "UPDATE scripts SET status = 'failed', error = 'out of attempts' WHERE id = %s",
            (stored_script.id,),
        )
    pending = stage_failures(db, stored_script.id, "keyframe")
    out = stage_check(pending, pending.script_status)
    assert (out.passed, out.error, out.description) == (False, True, "out of attempts")
