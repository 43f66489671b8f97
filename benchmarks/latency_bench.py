"""What an integrator and a reviewer wait for on `vsl dev` (issue 25): an ad-hoc image from
`POST /api/generate-media` to `completed` with its stored output answering 200, and a still
section's keyframe from its final webhook to the review queue.

Run: . .venv/bin/activate && python benchmarks/latency_bench.py [--jobs 12] [--scripts 5]
     git worktree add /tmp/before <rev> && python benchmarks/latency_bench.py --before /tmp/before

Each tree (the one given by `--before`, then this one) runs as `vsl dev` in a fresh data
folder (the embedded PostgreSQL, the sandbox with its model time set to 0, the service and
`dagster dev` with its daemon) on free ports, with the same virtualenv (`PYTHONPATH` picks the
tree's code). After a warm-up job, `--jobs` flux-schnell images one after another, each
followed as an integrator does: `GET /api/status/{jobId}` every 50 ms until `completed`, then
the result's URL fetched. Then `--scripts` scripts of one still section (a flux-schnell
keyframe held on screen), one after another, `GET /api/review?script=` every 50 ms until the
section's take is listed, timed from its keyframe's webhook as the inbox stamped it.

One JSON line per job and per script, then one summary line per tree: median, p90 and max of
`post_to_completed_s` (and its parts: `post_to_webhook_s`, `webhook_to_completed_s`) and of
`webhook_to_review_s`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from vsl_pipelines.db.embedded import embedded_database_url, embedded_server_lifetime

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.05
TOKEN = "r8_latencybenchtoken"
FLUX = {
    "userId": "latency-bench",
    "mediaType": "image",
    "modelId": "flux-schnell",
    "parameters": {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vsl dev exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _figures(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "p90": round(_percentile(values, 0.9), 3),
        "max": round(max(values), 3),
    }


class DevRun:
    """`vsl dev` of one tree in a fresh data folder, on free ports."""

    def __init__(self, tree: Path, data_dir: Path) -> None:
        self.tree = tree
        self.data_dir = data_dir
        self.service = f"http://127.0.0.1:{_free_port()}"
        self.sandbox = f"http://127.0.0.1:{_free_port()}"
        keep = ("VSL_", "DATABASE_URL", "REDIS_URL", "REPLICATE_", "DAGSTER_HOME")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
        self.env.update(
            PYTHONPATH=str(tree),
            VSL_PROJECT_ROOT=str(tree),
            VSL_DATA_DIR=str(data_dir),
            VSL_SERVICE_PORT=self.service.rsplit(":", 1)[1],
            VSL_SANDBOX_PORT=self.sandbox.rsplit(":", 1)[1],
            VSL_SANDBOX_TOKEN=TOKEN,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        vsl = Path(sys.executable).parent / "vsl"
        self.proc = subprocess.Popen(
            [str(vsl), "dev", "--port", str(_free_port())],
            env=self.env,
            cwd=self.tree,
            stdout=(self.data_dir / "vsl-dev.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait(f"{self.service}/healthz", 180, self.proc)
        _wait(f"{self.sandbox}/health", 60, self.proc)
        knobs = httpx.post(
            f"{self.sandbox}/sandbox/knobs",
            json={"latency_s": 0},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        knobs.raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def adhoc_job(run: DevRun, conn: psycopg.Connection[Any], timeout_s: float = 120) -> dict[str, Any]:
    """One image as an integrator follows it."""
    started = time.time()
    answer = httpx.post(f"{run.service}/api/generate-media", json=FLUX, timeout=30)
    answer.raise_for_status()
    job_id = answer.json()["jobId"]
    deadline = time.monotonic() + timeout_s
    while True:
        document = httpx.get(f"{run.service}/api/status/{job_id}", timeout=10).json()
        if document["status"] in ("completed", "failed"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} still {document['status']} after {timeout_s} s")
        time.sleep(POLL_S)
    completed = time.time()
    fetched = httpx.get(document["result"]["originalUrl"], timeout=10).status_code
    received = _webhook_received(
        conn, "SELECT prediction_id FROM jobs WHERE public_id = %s", job_id
    )
    return {
        "job": job_id,
        "status": document["status"],
        "output_answer": fetched,
        "post_to_completed_s": round(completed - started, 3),
        "post_to_webhook_s": round(received - started, 3) if received else None,
        "webhook_to_completed_s": round(completed - received, 3) if received else None,
    }


def _webhook_received(conn: psycopg.Connection[Any], job_query: str, key: str) -> float | None:
    row = conn.execute(
        f"SELECT max(i.received_at) FROM webhook_inbox i WHERE i.prediction_id = ({job_query})",
        (key,),
    ).fetchone()
    at: datetime | None = row[0] if row else None
    return at.timestamp() if at else None


def still_script(run: DevRun, conn: psycopg.Connection[Any], n: int) -> dict[str, Any]:
    """A one-section script whose keyframe is held on screen: from the keyframe's webhook to
    the section's take in the review queue."""
    script_id = f"latency-{n}-{int(time.time())}"
    document = {
        "id": script_id,
        "title": "Latency bench",
        "budget_usd": 1.0,
        "sections": [
            {
                "id": "shot",
                "narration": "One still.",
                "keyframe": {
                    "model": "flux-schnell",
                    "prompt": "a product on a plain table",
                    "params": {"aspect_ratio": "16:9"},
                },
                "still": {"duration_s": 2, "zoom": False},
            }
        ],
    }
    httpx.post(f"{run.service}/api/scripts", json=document, timeout=30).raise_for_status()
    deadline = time.monotonic() + 180
    while True:
        queue = httpx.get(f"{run.service}/api/review", params={"script": script_id}, timeout=10)
        if queue.status_code == 200 and queue.json():
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"script {script_id} not in review within 180 s")
        time.sleep(POLL_S)
    listed = time.time()
    received = _webhook_received(
        conn,
        "SELECT prediction_id FROM jobs WHERE script_id = %s AND stage = 'keyframe'"
        " ORDER BY attempt DESC LIMIT 1",
        script_id,
    )
    assert received is not None
    return {"script": script_id, "webhook_to_review_s": round(listed - received, 3)}


def bench_tree(label: str, tree: Path, jobs: int, scripts: int) -> dict[str, Any]:
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vsl-latency-")))
        run = DevRun(tree, data_dir)
        stack.callback(run.stop)
        run.start()
        stack.enter_context(embedded_server_lifetime())
        conn = stack.enter_context(
            psycopg.connect(embedded_database_url(data_dir), autocommit=True)
        )
        adhoc_job(run, conn)  # warm-up: the daemon's first ticks, every process's first call
        rows = []
        for n in range(jobs):
            row = adhoc_job(run, conn)
            print(json.dumps({"tree": label, "n": n + 1, **row}), flush=True)
            rows.append(row)
        takes = []
        for n in range(scripts):
            take = still_script(run, conn, n + 1)
            print(json.dumps({"tree": label, "n": n + 1, **take}), flush=True)
            takes.append(take)
    summary: dict[str, Any] = {"tree": label, "path": str(tree), "jobs": len(rows)}
    for key in ("post_to_completed_s", "post_to_webhook_s", "webhook_to_completed_s"):
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            summary[key] = _figures(values)
    summary["outputs_answering_200"] = sum(r["output_answer"] == 200 for r in rows)
    if takes:
        summary["scripts"] = len(takes)
        summary["webhook_to_review_s"] = _figures([t["webhook_to_review_s"] for t in takes])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--scripts", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a worktree of the commit to compare with")
    args = parser.parse_args()
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", ROOT)]
    summaries = [bench_tree(label, tree, args.jobs, args.scripts) for label, tree in trees]
    for summary in summaries:
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
