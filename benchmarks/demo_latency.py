"""Where the time of `vsl demo` goes: per stage, the seconds from the stage's last webhook (or
the last approval, for the compile) to its collecting run's start.

Run: . .venv/bin/activate && python benchmarks/demo_latency.py [--runs 3]
     python benchmarks/demo_latency.py --data-dir /tmp/latdemo   (a finished demo's folder)

Without `--data-dir`, each run is a `vsl demo` in a fresh data folder (the embedded
PostgreSQL initialised there). The figures come from two records the flow keeps anyway: the
inbox (`webhook_inbox.received_at`, stamped by the service when it stored the webhook) and
approvals in the demo's database, and Dagster's run records and events under its
`dagster_home` (created by the sensor's tick, dequeued by the daemon's run queue, started
once the run's process has loaded the code). Per run, one JSON line:

- `trigger_to_created_s`: the last webhook (or approval) to the run's creation by its
  sensor's tick (the sensor's interval and the daemon's sensor loop);
- `created_to_dequeued_s`: waiting in the run queue (to the daemon's `RUN_STARTING`);
- `dequeued_to_start_s`: launching: a new process, imports, the code location loaded (to the
  run's `RUN_START`);
- `trigger_to_start_s`: the sum, the figure docs/PERFORMANCE.md reports per stage;
- `run_s`: the run's own work, start to end;
- `created_at_s`, `ended_at_s`: when, counted from the script's storage by the demo.

A last line gives the demo's `elapsed_s` (from its own JSON line, when this script ran it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.embedded import embedded_database_url, embedded_server_lifetime

ROOT = Path(__file__).resolve().parent.parent
STAGE_OF_JOB = {
    "collect_keyframes": "keyframe",
    "collect_clips": "clip",
    "collect_soundtrack": "soundtrack",
    "collect_adhoc": "adhoc",
}


def run_demo(data_dir: Path) -> dict[str, Any]:
    """`vsl demo` in `data_dir`; its JSON line."""
    env = {**os.environ, "VSL_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    vsl = Path(sys.executable).parent / "vsl"
    done = subprocess.run(
        [str(vsl), "demo"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"vsl demo failed:\n{done.stderr[-3000:]}")
    line: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return line


def _timestamps(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """When the daemon dequeued the run (and asked the code server to start it) and when the
    run's new process reported its start."""
    wanted = {
        dg.DagsterEventType.RUN_STARTING: "dequeued",
        dg.DagsterEventType.RUN_START: "start",
    }
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=set(wanted)):
        if entry.dagster_event is not None:
            out.setdefault(wanted[entry.dagster_event.event_type], entry.timestamp)
    return out


def _trigger(conn: Any, job: str, script: str | None, before: datetime) -> datetime | None:
    """The last webhook of the run's stage (the last approval for a compile) before the run
    was created."""
    if job == "compile":
        row = conn.execute(
            "SELECT max(created_at) AS at FROM approvals WHERE script_id = %s AND created_at <= %s",
            (script, before),
        ).fetchone()
    elif job in STAGE_OF_JOB:
        row = conn.execute(
            """SELECT max(i.received_at) AS at FROM webhook_inbox i
               JOIN jobs j ON j.prediction_id = i.prediction_id
               WHERE j.stage = %s AND j.script_id IS NOT DISTINCT FROM %s
                 AND i.received_at <= %s""",
            (STAGE_OF_JOB[job], None if job == "collect_adhoc" else script, before),
        ).fetchone()
    else:
        return None
    at: datetime | None = row["at"] if row else None
    return at


def analyse(data_dir: Path) -> list[dict[str, Any]]:
    """One record per Dagster run of the demo in `data_dir`, in creation order."""
    # The embedded server, when used, is let go at the end and stopped unless held elsewhere.
    with embedded_server_lifetime():
        return _analyse(data_dir, os.environ.get("DATABASE_URL") or embedded_database_url(data_dir))


def _analyse(data_dir: Path, url: str) -> list[dict[str, Any]]:
    instance = dg.DagsterInstance.from_config(str(data_dir / "dagster_home"))
    try:
        records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
        out = []
        with connect(url) as conn:
            first = conn.execute("SELECT min(created_at) AS at FROM scripts").fetchone()
            origin = first["at"].timestamp() if first and first["at"] else 0.0
            for record in records:
                run = record.dagster_run
                created = record.create_timestamp
                times = _timestamps(instance, run.run_id)
                start = record.start_time or times.get("start")
                end = record.end_time
                trigger = _trigger(conn, run.job_name, run.tags.get("dagster/partition"), created)
                row: dict[str, Any] = {
                    "job": run.job_name,
                    "status": run.status.value,
                    "sensor": run.tags.get("dagster/sensor_name"),
                    "created_at_s": round(created.timestamp() - origin, 2),
                    "ended_at_s": round(end - origin, 2) if end else None,
                    "trigger_to_created_s": None,
                    "created_to_dequeued_s": None,
                    "dequeued_to_start_s": None,
                    "trigger_to_start_s": None,
                    "run_s": round(end - start, 2) if start and end else None,
                }
                if trigger is not None:
                    row["trigger_to_created_s"] = round((created - trigger).total_seconds(), 2)
                    if start:
                        row["trigger_to_start_s"] = round(start - trigger.timestamp(), 2)
                if "dequeued" in times:
                    row["created_to_dequeued_s"] = round(times["dequeued"] - created.timestamp(), 2)
                    if start:
                        row["dequeued_to_start_s"] = round(start - times["dequeued"], 2)
                out.append(row)
        return out
    finally:
        instance.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="read a finished demo's data folder")
    parser.add_argument("--runs", type=int, default=1, help="demos to run (without --data-dir)")
    args = parser.parse_args()
    if args.data_dir:
        for row in analyse(args.data_dir):
            print(json.dumps(row))
        return
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="vsl-demo-latency-") as tmp:
            line = run_demo(Path(tmp))
            for row in analyse(Path(tmp)):
                print(json.dumps({"demo": n + 1, **row}))
            print(json.dumps({"demo": n + 1, "elapsed_s": line["elapsed_s"]}), flush=True)


if __name__ == "__main__":
    main()
