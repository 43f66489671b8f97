"""Issue 10's burst at full size: 10,000 signed webhooks (5% out of order, 1% redelivered, 1%
forged) through `vsl serve` while it is SIGKILLed and restarted once, the sender retrying as
Replicate does; then applied as the webhook sensor applies them.

Run: . .venv/bin/activate && PYTHONPATH=. python benchmarks/burst_bench.py [--jobs 5000] [--senders 8]
(two webhooks per job). Uses the machinery of tests/test_webhook_burst.py (its smaller size runs
in `make test`) on a scratch database; prints one JSON line: what was sent, stored, refused,
retried, and the final job statuses.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import DEFAULT_WORKSPACE, scratch_database

from tests.fixtures.scripts import SAMPLE_SCRIPT
from tests.fixtures.service import new_webhook_secret
from tests.test_webhook_burst import RETRIES, Service, deliveries, send_like_replicate
from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import load_script
from vsl_pipelines.generation.progress import apply_events
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status import JobStatusLayers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    with scratch_database("vsl_burst") as url:
        apply_migrations(Database(url))
        with connect(url) as conn:
            insert_script(
                conn, load_script(SAMPLE_SCRIPT), str(SAMPLE_SCRIPT), default_workspace_id(conn)
            )
            conn.execute(
                "INSERT INTO jobs (script_id, section_id, stage, take, attempt, model_id,"
                " prediction_id, status, input, estimated_cost_usd, media_type, workspace_id)"
                " SELECT 'spring-launch', 'hook', 'keyframe', 1, g, 'flux-schnell',"
                f" 'pred-' || (g - 1), 'starting', '{{}}', 0.003, 'image', {DEFAULT_WORKSPACE}"
                " FROM generate_series(1, %s) g",
                (args.jobs,),
            )
        sent = deliveries([f"pred-{i}" for i in range(args.jobs)], random.Random(7))
        secret = new_webhook_secret()
        service = Service(Database(url), secret, Path(tempfile.mkdtemp(prefix="vsl-burst-")), {})
        service.start()
        statuses: dict[str, set[int]] = {}
        started = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:
            futures = {
                pool.submit(send_like_replicate, f"{service.url}/webhooks/replicate", secret, d): d
                for d in sent
            }
            while sum(f.done() for f in futures) < len(sent) // 3:
                time.sleep(0.05)
            service.kill()
            time.sleep(1)
            service.start()
            for future, delivery in futures.items():
                statuses.setdefault(delivery.webhook_id, set()).add(future.result())
        sent_s = time.perf_counter() - started
        service.kill()

        genuine = {d.webhook_id for d in sent if not d.forged}
        forged = {d.webhook_id for d in sent if d.forged}
        inbox = PostgresInbox(Database(url))
        events, cursor = [], 0
        while batch := inbox.read_after(cursor, 200):
            events += batch
            cursor = batch[-1].seq
        started = time.perf_counter()
        for start in range(0, len(events), 200):
            apply_events(
                Database(url),
                [e.body for e in events[start : start + 200]],
                JobStatusLayers(Database(url)),
            )
        applied_s = time.perf_counter() - started
        reapplied = apply_events(
            Database(url), [e.body for e in events], JobStatusLayers(Database(url))
        )
        with connect(url) as conn:
            final = conn.execute(
                "SELECT status, count(*) AS n FROM jobs GROUP BY status"
            ).fetchall()
        stored = [e.webhook_id for e in events]
        print(
            json.dumps(
                {
                    "deliveries": len(sent),
                    "genuine": len(genuine),
                    "forged": len(forged),
                    "redelivered": len(sent) - len(genuine) - len(forged),
                    "retried_sends": len(RETRIES),
                    "sent_s": round(sent_s, 1),
                    "stored": len(stored),
                    "stored_distinct": len(set(stored)),
                    "stored_equals_genuine": set(stored) == genuine,
                    "forged_all_refused_401": all(statuses[w] == {401} for w in forged),
                    "genuine_all_200": all(statuses[w] == {200} for w in genuine),
                    "applied_s": round(applied_s, 2),
                    "jobs_by_status": {r["status"]: r["n"] for r in final},
                    "changed_on_reapply": sorted(reapplied),
                }
            )
        )


if __name__ == "__main__":
    main()
