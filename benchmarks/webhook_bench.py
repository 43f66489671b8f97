"""Webhook ingest and sensor apply throughput on this machine (real HTTP, real Postgres).

Run: . .venv/bin/activate && python benchmarks/webhook_bench.py [--webhooks 2000] [--threads 4]
Creates a scratch database on 127.0.0.1:5432, starts the webhook service on a free port,
posts signed webhooks from a few threads, then applies them to job rows the way the webhook
sensor does (batches of 200). Prints one JSON line; the figures go in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import psycopg
from harness import DEFAULT_WORKSPACE
from standardwebhooks import Webhook

from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.generation.progress import apply_events
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.server import start_service_in_thread

SERVER = os.environ.get("VSL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    name = f"vsl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    try:
        apply_migrations(Database(url))
        with connect(url) as conn:
            conn.execute(
                "INSERT INTO scripts (id, title, document, status, workspace_id)"
                f" VALUES ('bench', 'b', '{{}}', 'generating', {DEFAULT_WORKSPACE})"
            )
            conn.execute(
                "INSERT INTO jobs (script_id, section_id, stage, take, model_id, prediction_id,"
                " status, input, estimated_cost_usd, media_type, workspace_id)"
                " SELECT 'bench', 's' || g, 'clip', 1, 'm', 'p' || g, 'starting', '{}', 0, 'video',"
                f" {DEFAULT_WORKSPACE}"
                " FROM generate_series(1, %s) g",
                (args.webhooks,),
            )
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        signer = Webhook(secret)
        inbox = PostgresInbox(Database(url))
        service = start_service_in_thread(create_app(inbox, secret, None))
        latencies: list[float] = []
        lock = threading.Lock()

        def post(indices: range) -> None:
            with httpx.Client(base_url=service.url) as client:
                for i in indices:
                    body = json.dumps({"id": f"p{i + 1}", "status": "succeeded", "output": "x"})
                    ts = int(time.time())
                    msg_id = f"msg_{i}"
                    sig = signer.sign(msg_id, datetime.fromtimestamp(ts, UTC), body)
                    headers = {
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(ts),
                        "webhook-signature": sig,
                        "content-type": "application/json",
                    }
                    started = time.perf_counter()
                    response = client.post("/webhooks/replicate", content=body, headers=headers)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, response.text
                    with lock:
                        latencies.append(elapsed)

        per = args.webhooks // args.threads
        chunks = [range(t * per, (t + 1) * per) for t in range(args.threads)]
        started = time.perf_counter()
        workers = [threading.Thread(target=post, args=(c,)) for c in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        ingest_s = time.perf_counter() - started
        service.stop()

        started = time.perf_counter()
        cursor, ticks = 0, 0
        while True:
            events = inbox.read_after(cursor, 200)
            if not events:
                break
            apply_events(Database(url), [e.body for e in events], JobStatusLayers(Database(url)))
            cursor = events[-1].seq
            ticks += 1
        apply_s = time.perf_counter() - started
        inbox.close()
        with connect(url) as conn:
            done = conn.execute(
                "SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'"
            ).fetchone()
        latencies.sort()
        print(
            json.dumps(
                {
                    "webhooks": len(latencies),
                    "threads": args.threads,
                    "ingest_per_s": round(len(latencies) / ingest_s, 1),
                    "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
                    "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
                    "apply_per_s": round(len(latencies) / apply_s, 1),
                    "sensor_ticks_of_200": ticks,
                    "jobs_succeeded": done["n"] if done else 0,
                }
            )
        )
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
