"""Webhook ingest through `vsl serve` against the bare stack of the same parts (issue 10), side
by side on the same PostgreSQL, loaded by `wrk -t1 -c8` on loopback.

Run: . .venv/bin/activate && python benchmarks/ingest_bench.py [--seconds 10] [--rounds 2]
[--workers 1 2 4] (needs `wrk`: apt-get install wrk). Each round runs the bare stack, then
`vsl serve` with each worker count, on fresh scratch databases; every request is a distinct
webhook signed just before the round (standardwebhooks), so each is stored. Prints one JSON
line per round and a summary with the ratio of `vsl serve` to the bare stack.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from harness import free_port, run_wrk, scratch_database
from standardwebhooks import Webhook

from vsl_pipelines.db.migrations import apply_migrations

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = """
-- Built in init(): only then does wrk.format add the Host header (HTTP/1.1 wants one).
local requests = {}
function init(args)
for line in io.lines("%s") do
  local id, ts, sig, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  requests[#requests + 1] = wrk.format("POST", "/webhooks/replicate", {
    ["content-type"] = "application/json", ["webhook-id"] = id,
    ["webhook-timestamp"] = ts, ["webhook-signature"] = sig }, body)
end
end
local n = 0
request = function()
  n = n + 1
  return requests[((n - 1) %% #requests) + 1]
end
"""


def signed_requests(path: Path, secret: str, count: int) -> None:
    signer = Webhook(secret)
    now = datetime.now(UTC)
    with path.open("w") as out:
        for i in range(count):
            webhook_id = f"msg_{uuid.uuid4().hex}"
            body = json.dumps(
                {"id": f"pred-{i}", "status": "succeeded", "output": [f"https://x/{i}.mp4"]}
            )
            signature = signer.sign(webhook_id, now, body)
            out.write(f"{webhook_id}\t{int(now.timestamp())}\t{signature}\t{body}\n")


def wait_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.post(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stored(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def measure(kind: str, workers: int, seconds: int, work: Path) -> dict[str, float]:
    with scratch_database("vsl_ingest") as url:
        return _measure(url, kind, workers, seconds, work)


def _measure(url: str, kind: str, workers: int, seconds: int, work: Path) -> dict[str, float]:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    port = free_port()
    # The default log level: `vsl serve` logs a line per webhook, as its users run it.
    env = {k: v for k, v in os.environ.items() if k != "VSL_LOG_LEVEL"}
    if kind == "bare":
        env.update(BARE_DATABASE_URL=url, BARE_WEBHOOK_SECRET=secret)
        command = [
            str(BIN / "uvicorn"),
            "benchmarks.bare_ingest:app",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        table = "bare_inbox"
    else:
        apply_migrations(url)
        env.update(
            DATABASE_URL=url, REPLICATE_WEBHOOK_SECRET=secret, VSL_DATA_DIR=str(work / "data")
        )
        command = [str(BIN / "vsl"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        table = "webhook_inbox"
    requests = work / f"{kind}-{workers}.tsv"
    signed_requests(requests, secret, 200_000)
    script = work / f"{kind}-{workers}.lua"
    script.write_text(WRK_SCRIPT % requests)
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(server, f"http://127.0.0.1:{port}/webhooks/replicate")
        figures = run_wrk(f"http://127.0.0.1:{port}", script, seconds)
    finally:
        server.terminate()
        server.wait(20)
    figures["stored"] = stored(url, table)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="vsl-ingest-bench-"))
    results: dict[str, list[float]] = {}
    try:
        for round_ in range(1, args.rounds + 1):
            line: dict[str, object] = {"round": round_}
            line["bare"] = bare = measure("bare", 1, args.seconds, work)
            results.setdefault("bare", []).append(bare["per_s"])
            for workers in args.workers:
                figures = measure("vsl", workers, args.seconds, work)
                figures["ratio"] = round(figures["per_s"] / bare["per_s"], 2)
                line[f"vsl_serve_{workers}"] = figures
                results.setdefault(f"vsl_serve_{workers}", []).append(figures["per_s"])
            print(json.dumps(line), flush=True)
        bare_mean = sum(results["bare"]) / len(results["bare"])
        print(
            json.dumps(
                {
                    "summary": {
                        name: {
                            "mean_per_s": round(sum(v) / len(v), 1),
                            "ratio_to_bare": round(sum(v) / len(v) / bare_mean, 2),
                        }
                        for name, v in results.items()
                    }
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
