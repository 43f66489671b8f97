"""Sensor ticks against the totals (issue 10): a webhook sensor tick and an approval sensor tick
with 1,000,000 inbox rows and 1,000,000 approval rows behind the cursors, for 1k, 10k and 100k
generating scripts; each tick has a batch of new rows to act on.

Run: . .venv/bin/activate && python benchmarks/sensor_scale_bench.py [--scripts 1000 10000 100000]
[--history 1000000] [--batch 200]. Builds one scratch database per size with generate_series
(the sample script cloned N times, a keyframe job per section), then times, in this process:
`webhook_tick` (number and read the new webhooks, apply them, visit scripts, ask their next
runs, ad-hoc days) with a real ephemeral Dagster instance for the run keys, and `approval_tick`.
Prints one JSON line per size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import dagster as dg
import psycopg
from harness import DEFAULT_WORKSPACE, scratch_database

from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.generation.sensors import webhook_tick
from vsl_pipelines.defs.resources import DatabaseResource, InboxResource, PacingResource
from vsl_pipelines.defs.review.sensors import approval_tick
from vsl_pipelines.domain.script import load_script
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.services.generation import Progress
from vsl_pipelines.services.review import Review
from vsl_pipelines.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml"


def build(url: str, scripts: int, history: int) -> None:
    apply_migrations(Database(url))
    with connect(url) as conn:
        insert_script(conn, load_script(SAMPLE), str(SAMPLE), default_workspace_id(conn))
        conn.execute(
            "INSERT INTO scripts (id, title, document, status, checked_at, workspace_id)"
            " SELECT 's' || g, title, jsonb_set(document, '{id}', to_jsonb('s' || g)),"
            " 'generating', now() - (g || ' seconds')::interval, workspace_id"
            " FROM scripts, generate_series(1, %s) g WHERE id = 'spring-launch'",
            (scripts,),
        )
        conn.execute(
            "INSERT INTO sections (script_id, id, position, narration, spec)"
            " SELECT 's' || g, id, position, narration, spec"
            " FROM sections, generate_series(1, %s) g WHERE script_id = 'spring-launch'",
            (scripts,),
        )
        conn.execute(
            "INSERT INTO jobs (script_id, section_id, stage, take, attempt, model_id,"
            " prediction_id, status, input, estimated_cost_usd, media_type, workspace_id)"
            " SELECT 's' || g, id, 'keyframe', 1, 1, 'flux-schnell', 'p-' || g || '-' || id,"
            f" 'processing', '{{}}', 0.003, 'image', {DEFAULT_WORKSPACE}"
            " FROM sections, generate_series(1, %s) g"
            " WHERE script_id = 'spring-launch' AND spec ? 'keyframe'",
            (scripts,),
        )
        conn.execute(
            "INSERT INTO webhook_inbox (webhook_id, prediction_id, status, received_at, body, seq)"
            " SELECT 'old-' || g, 'p-old', 'processing', now() - interval '1 day',"
            ' \'{"id": "p-old", "status": "processing"}\', g'
            " FROM generate_series(1, %s) g",
            (history,),
        )
        conn.execute("SELECT setval('webhook_inbox_seq_seq', %s)", (history,))
        conn.execute(
            "INSERT INTO approvals (script_id, section_id, take, decision, reviewer)"
            " SELECT 's' || (g %% %s + 1), 'offer', g, 'approved', 'bench'"
            " FROM generate_series(1, %s) g",
            (scripts, history),
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def new_webhooks(url: str, scripts: int, batch: int, round_: int) -> None:
    inbox = PostgresInbox(Database(url))
    for i in range(batch):
        script = (round_ * batch + i) % scripts + 1
        body = json.dumps({"id": f"p-{script}-hook", "status": "succeeded", "output": None})
        inbox.put(f"new-{round_}-{i}", body)


def new_decisions(url: str, scripts: int, batch: int, round_: int) -> None:
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO approvals (script_id, section_id, take, decision, reviewer)"
            " SELECT 's' || ((%s + g) %% %s + 1), 'close', %s + g, 'approved', 'bench'"
            " FROM generate_series(1, %s) g",
            (round_ * batch, scripts, 10_000_000 + round_ * batch, batch),
        )


def measure(scripts: int, history: int, batch: int, rounds: int) -> dict[str, object]:
    with scratch_database("vsl_scale") as url:
        started = time.perf_counter()
        build(url, scripts, history)
        built_s = time.perf_counter() - started
        inbox = InboxResource(database=DatabaseResource(url=url)).inbox()
        pacing = PacingResource(sensor_batch_size=batch)
        progress = Progress(Database(url), JobStatusLayers(Database(url)))
        webhook_s, idle_s, approval_s = [], [], []
        cursor = history
        with connect(url) as conn:
            row = conn.execute("SELECT max(id) AS id FROM approvals").fetchone()
        approval_cursor = int(row["id"]) if row else 0
        with dg.DagsterInstance.ephemeral() as instance:
            for round_ in range(rounds):
                new_webhooks(url, scripts, batch, round_)
                started = time.perf_counter()
                requests, cursor, applied = webhook_tick(cursor, inbox, progress, pacing, instance)
                webhook_s.append(time.perf_counter() - started)
                assert applied == batch, applied
                started = time.perf_counter()
                webhook_tick(cursor, inbox, progress, pacing, instance)
                idle_s.append(time.perf_counter() - started)
                new_decisions(url, scripts, batch, round_)
                started = time.perf_counter()
                _, approval_cursor = approval_tick(approval_cursor, Review(Database(url)), batch)
                approval_s.append(time.perf_counter() - started)
        return {
            "scripts": scripts,
            "inbox_rows": history + rounds * batch,
            "approval_rows": history + rounds * batch,
            "batch": batch,
            "build_s": round(built_s, 1),
            "webhook_tick_s": round(statistics.median(webhook_s), 3),
            "webhook_tick_max_s": round(max(webhook_s), 3),
            "idle_tick_s": round(statistics.median(idle_s), 3),
            "approval_tick_s": round(statistics.median(approval_s), 3),
            "approval_tick_max_s": round(max(approval_s), 3),
            "run_requests_last_tick": len(requests),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scripts", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for scripts in args.scripts:
        print(json.dumps(measure(scripts, args.history, args.batch, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
