"""Webhook ingest through `vsl serve` against the bare stack of the same parts (issue 10), side
by side on the same PostgreSQL, loaded by `wrk -t1 -c8` on loopback.

Run: . .venv/bin/activate && python benchmarks/ingest_bench.py [--seconds 10] [--rounds 2]
[--workers 1 2 4] [--dynamodb] (needs `wrk`: apt-get install wrk). Each round runs the bare
stack, then `vsl serve` with each worker count, on fresh scratch databases; every request is a
distinct webhook signed just before the round (standardwebhooks), so each is stored. Prints one
JSON line per round and a summary with the ratio of `vsl serve` to the bare stack.

`--dynamodb`: each round also runs one `vsl serve` process with the DynamoDB inbox
(`VSL_DYNAMODB_TABLE`, a fresh table made by `create_inbox_table`) on a local moto server, and
gives its ratio to the same round's Postgres inbox; then `DynamoInbox.put` from 8 threads
straight to moto (`moto_direct_puts`), moto's own ceiling for the inbox's writes. moto is a
Python emulator serving one request at a time (as in the tests): the figures are moto's speed
on this machine, not DynamoDB's.
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
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from harness import MOTO_ENV, free_port, moto_server, run_wrk, scratch_database
from standardwebhooks import Webhook

from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.inbox.dynamodb import EVENTS_PK, create_inbox_table

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


def dynamo_stored(endpoint: str, table: str) -> int:
    """Events in the DynamoDB inbox table (its `events` partition)."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, **_boto_credentials())
    count, start = 0, None
    while True:
        page = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": EVENTS_PK}},
            Select="COUNT",
            **({"ExclusiveStartKey": start} if start else {}),
        )
        count += int(page["Count"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return count


def dynamo_direct(endpoint: str, seconds: int, threads: int = 8) -> dict[str, float]:
    """`DynamoInbox.put` of distinct webhooks from `threads` threads of this process straight to
    moto, no service in between: what moto itself sustains for the inbox's four calls per new
    webhook (dedupe put, counter ADD, event put, record update), the ceiling of the row above."""
    import threading

    import boto3
    from botocore.config import Config

    from vsl_pipelines.inbox.dynamodb import DynamoInbox

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(max_pool_connections=threads),
        **_boto_credentials(),
    )
    table = f"vsl-ingest-{uuid.uuid4().hex[:12]}"
    create_inbox_table(client, table)
    inbox = DynamoInbox(table, client=client)
    body = json.dumps({"id": "pred-direct", "status": "succeeded", "output": ["https://x/1.mp4"]})
    done: list[int] = [0] * threads
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def write(n: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            inbox.put(f"msg_{uuid.uuid4().hex}", body)
            latencies.append(time.perf_counter() - started)
            done[n] += 1

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "per_s": round(sum(done) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "stored": dynamo_stored(endpoint, table),
    }


def _boto_credentials() -> dict[str, str]:
    return {
        "region_name": MOTO_ENV["AWS_REGION"],
        "aws_access_key_id": MOTO_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": MOTO_ENV["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": MOTO_ENV["AWS_SESSION_TOKEN"],
    }


def measure(
    kind: str, workers: int, seconds: int, work: Path, moto: str | None = None
) -> dict[str, float]:
    with scratch_database("vsl_ingest") as url:
        return _measure(url, kind, workers, seconds, work, moto)


def _measure(
    url: str, kind: str, workers: int, seconds: int, work: Path, moto: str | None = None
) -> dict[str, float]:
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
        apply_migrations(Database(url))
        env.update(
            DATABASE_URL=url, REPLICATE_WEBHOOK_SECRET=secret, VSL_DATA_DIR=str(work / "data")
        )
        command = [str(BIN / "vsl"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        table = "webhook_inbox"
        if kind == "dynamodb":
            import boto3

            table = f"vsl-ingest-{uuid.uuid4().hex[:12]}"
            create_inbox_table(
                boto3.client("dynamodb", endpoint_url=moto, **_boto_credentials()), table
            )
            env.update(MOTO_ENV, AWS_ENDPOINT_URL=str(moto), VSL_DYNAMODB_TABLE=table)
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
    figures["stored"] = (
        dynamo_stored(str(moto), table) if kind == "dynamodb" else stored(url, table)
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--dynamodb",
        action="store_true",
        help="also `vsl serve` (one process) on the DynamoDB inbox, on a local moto server",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="vsl-ingest-bench-"))
    results: dict[str, list[float]] = {}
    with ExitStack() as stack:
        moto = stack.enter_context(moto_server()) if args.dynamodb else None
        try:
            _rounds(args, work, results, moto)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _rounds(
    args: argparse.Namespace, work: Path, results: dict[str, list[float]], moto: str | None
) -> None:
    for round_ in range(1, args.rounds + 1):
        line: dict[str, object] = {"round": round_}
        line["bare"] = bare = measure("bare", 1, args.seconds, work)
        results.setdefault("bare", []).append(bare["per_s"])
        by_workers: dict[int, dict[str, float]] = {}
        for workers in args.workers:
            figures = by_workers[workers] = measure("vsl", workers, args.seconds, work)
            figures["ratio"] = round(figures["per_s"] / bare["per_s"], 2)
            line[f"vsl_serve_{workers}"] = figures
            results.setdefault(f"vsl_serve_{workers}", []).append(figures["per_s"])
        if moto is not None:
            # Beside the same round's one-process Postgres inbox (measured here if not above).
            postgres = by_workers.get(1) or measure("vsl", 1, args.seconds, work)
            dynamo = measure("dynamodb", 1, args.seconds, work, moto)
            dynamo["ratio"] = round(dynamo["per_s"] / bare["per_s"], 2)
            dynamo["ratio_to_postgres"] = round(dynamo["per_s"] / postgres["per_s"], 2)
            line["vsl_serve_dynamodb"] = dynamo
            direct = dynamo_direct(moto, args.seconds)
            dynamo["ratio_to_moto_direct"] = round(dynamo["per_s"] / direct["per_s"], 2)
            line["moto_direct_puts"] = direct
            results.setdefault("vsl_serve_dynamodb", []).append(dynamo["per_s"])
            results.setdefault("postgres_beside_dynamodb", []).append(postgres["per_s"])
        print(json.dumps(line), flush=True)
    bare_mean = sum(results["bare"]) / len(results["bare"])
    summary: dict[str, dict[str, float]] = {
        name: {
            "mean_per_s": round(sum(v) / len(v), 1),
            "ratio_to_bare": round(sum(v) / len(v) / bare_mean, 2),
        }
        for name, v in results.items()
        if name != "postgres_beside_dynamodb"
    }
    if "vsl_serve_dynamodb" in results:
        dynamo_v, postgres_v = results["vsl_serve_dynamodb"], results["postgres_beside_dynamodb"]
        summary["vsl_serve_dynamodb"]["ratio_to_postgres"] = round(
            sum(dynamo_v) / sum(postgres_v), 2
        )
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
