"""A burst of signed webhooks through `vsl serve` while it is killed and restarted once, sent
as Replicate sends them (retried on errors and lost connections): every genuine webhook is
stored once, every forged one refused, and applying the inbox moves each job to its final
status exactly once. Issue 10's burst at a size `make test` can afford (about 300 webhooks,
not 10,000).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.aws import REGION
from tests.fixtures.scripts import record_job
from tests.fixtures.service import new_webhook_secret, signed_headers
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.progress import apply_events
from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.dynamodb import DynamoInbox
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.settings import PROJECT_ROOT

VSL = str(Path(sys.executable).with_name("vsl"))
JOBS = 150  # two webhooks each (processing, succeeded): 300, plus redeliveries and forgeries


@dataclass
class Delivery:
    webhook_id: str
    body: bytes
    forged: bool = False


def deliveries(predictions: list[str], rng: random.Random) -> list[Delivery]:
    """processing then succeeded per job; 5% of jobs out of order, 1% redelivered, 1% forged."""
    out: list[Delivery] = []
    for prediction in predictions:
        pair = [
            Delivery(
                f"msg_{prediction}_{status}",
                json.dumps({"id": prediction, "status": status, "output": None}).encode(),
            )
            for status in ("processing", "succeeded")
        ]
        if rng.random() < 0.05:
            pair.reverse()
        out += pair
    out += [rng.choice(out) for _ in range(len(out) // 100)]  # redeliveries, sent again
    out += [
        Delivery(
            f"msg_forged_{i}",
            json.dumps({"id": rng.choice(predictions), "status": "failed"}).encode(),
            forged=True,
        )
        for i in range(len(out) // 100)
    ]
    return out


class Service:
    def __init__(
        self, db: Database, secret: str, data_dir: Path, extra_env: dict[str, str]
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VSL_", "REDIS_"))},
            "DATABASE_URL": db.url,
            "REPLICATE_WEBHOOK_SECRET": secret,
            "VSL_DATA_DIR": str(data_dir),
            **extra_env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [VSL, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=PROJECT_ROOT,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if SENDER.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and self.process.poll() is None
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


RETRIES: list[str] = []
# One client for every delivery, keeping no connection alive: each delivery still opens its own
# connection (as Replicate's do), without building a TLS context per request (~0.1 s of CPU each,
# which made the 330 deliveries wait on the test rather than on the service).
SENDER = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=5)


def send_like_replicate(url: str, secret: str, delivery: Delivery) -> int:
    """POST until answered 2xx or 4xx (Replicate retries 5xx and failed connections)."""
    headers = signed_headers(secret, delivery.body, delivery.webhook_id)
    if delivery.forged:
        headers["webhook-signature"] = "v1,Zm9yZ2VkIHNpZ25hdHVyZSBmb3IgYSB0ZXN0IG9mIGJ1cnN0cw=="
    headers["content-type"] = "application/json"
    for attempt in range(200):
        try:
            answer = SENDER.post(url, content=delivery.body, headers=headers)
        except httpx.TransportError:
            RETRIES.append(delivery.webhook_id)
            time.sleep(min(0.05 * 2**attempt, 0.5))
            continue
        if answer.status_code < 500:
            return answer.status_code
        RETRIES.append(delivery.webhook_id)
        time.sleep(0.05)
    raise AssertionError(f"{delivery.webhook_id} never delivered")


@pytest.mark.parametrize("backend", ["postgres", "dynamodb"])
def test_a_burst_through_a_restart_is_stored_and_applied_exactly_once(
    backend: str, db: Database, stored_script: Script, tmp_path: Path, request: Any
) -> None:
    """On DynamoDB (moto) delivery into the inbox is at least once by design (a delivery cut
    between its dedupe record and its event is repaired by the redelivery, possibly twice):
    there every genuine webhook is stored, duplicates are counted, and each job still reaches
    its final status once."""
    RETRIES.clear()
    rng = random.Random(7)
    with db.connect() as conn:
        job_ids = [record_job(conn, f"pred-{i}", "starting") for i in range(JOBS)]
    predictions = [f"pred-{i}" for i in range(JOBS)]
    sent = deliveries(predictions, rng)
    secret = new_webhook_secret()
    inbox: WebhookInbox
    extra_env: dict[str, str] = {}
    if backend == "dynamodb":
        client, table = request.getfixturevalue("dynamo_table")
        moto = request.getfixturevalue("moto_server")
        extra_env = {
            "VSL_DYNAMODB_TABLE": table,
            "AWS_ENDPOINT_URL": moto,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        inbox = DynamoInbox(table, client=client, settle_s=1.0)  # the writers are done
    else:
        inbox = PostgresInbox(db)
    service = Service(db, secret, tmp_path / "data", extra_env)
    service.start()
    statuses: dict[str, set[int]] = {}
    lock = threading.Lock()

    def deliver(delivery: Delivery) -> None:
        status = send_like_replicate(f"{service.url}/webhooks/replicate", secret, delivery)
        with lock:
            statuses.setdefault(delivery.webhook_id, set()).add(status)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(deliver, d) for d in sent]
        while sum(f.done() for f in futures) < len(sent) // 3:
            time.sleep(0.01)
        service.kill()  # mid-burst: in-flight requests are lost, the sender retries them
        time.sleep(0.5)
        service.start()
        for future in futures:
            future.result()
    service.kill()
    assert RETRIES, "the restart cut some deliveries, which were sent again"

    genuine = {d.webhook_id for d in sent if not d.forged}
    forged = {d.webhook_id for d in sent if d.forged}
    assert forged and all(statuses[w] == {401} for w in forged)
    assert all(statuses[w] <= {200} for w in genuine)
    # Read as the sensor does, tick after tick: a seq the killed service reserved and never
    # wrote holds the DynamoDB reader until `settle_s` has passed, then it is skipped.
    events = []
    cursor = 0
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < getattr(inbox, "settle_s", 0.0) + 0.5:
        batch = inbox.read_after(cursor, 37)
        if batch:
            events += batch
            cursor = batch[-1].seq
            quiet_since = time.monotonic()
        else:
            time.sleep(0.1)
    stored = [e.webhook_id for e in events]
    assert set(stored) == genuine, "every genuine webhook stored, no forged one"
    if backend == "postgres":
        assert len(stored) == len(genuine), "each stored once"

    # The service applied some final webhooks itself (collect-at-webhook, up to its rate);
    # the rest wait for the sensor.
    with db.connect() as conn:
        waiting = conn.execute(
            "SELECT count(*) AS n FROM jobs WHERE id = ANY(%s) AND status <> 'succeeded'",
            (job_ids,),
        ).fetchone()["n"]
    # Applied as the sensor applies them (batches from the cursor): every job ends succeeded.
    changes = 0
    for start in range(0, len(events), 37):
        part = events[start : start + 37]
        changes += len(apply_events(db, [e.body for e in part], JobStatusLayers(db)))
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT status, completed_at FROM jobs WHERE id = ANY(%s)", (job_ids,)
        ).fetchall()
    assert {r["status"] for r in rows} == {"succeeded"}
    assert all(r["completed_at"] is not None for r in rows)
    assert (changes > 0) == (waiting > 0), "the sensor's batches moved what was left to them"
    # Read and applied again from the start (a sensor that lost its cursor): nothing moves.
    assert apply_events(db, [e.body for e in events], JobStatusLayers(db)) == set()
