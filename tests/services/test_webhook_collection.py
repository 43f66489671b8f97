"""Collecting at the webhook (`services/webhook_collection.py`), on the sandbox, the service and
PostgreSQL and Redis: an ad-hoc output completed with no tick and no run, then recorded in
Dagster as its day's materialization; a collecting process killed between storing an output
and publishing its status; a still section's take reaching the review queue."""

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
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import review_queue

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
        # The next tick reads from its cursor that Dagster holds it: never recorded twice.
        second = adhoc.sensor_tick(instance)
        assert (second.run_requests, second.asset_events) == ([], [])
        assert _materializations(instance, "adhoc_media") == [(today, job.id)]
    assert not _job(adhoc.db, public_id).materialization_due
    assert _takes_of_job(adhoc.db, job.id) == 1


# The collecting process, on its own: it applies the webhook, stores the output and is killed
# at the step named, before it could publish the job's status.
CHILD = """
import os, signal, sys
import redis
from vsl_pipelines.db.database import Database
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
