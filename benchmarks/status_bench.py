"""`GET /api/status/{jobId}` as a client meets it: `vsl serve` in its own process, the load from
`wrk` (8 connections, 1 thread) in another, on loopback, against real PostgreSQL and Redis.

Run: . .venv/bin/activate && python benchmarks/status_bench.py [--jobs 2000] [--seconds 10]
[--before REV [--rounds 3]]
(needs `wrk`: apt-get install wrk). Three figures, one JSON line:

- `cold`: the service without Redis, so every read is a PostgreSQL query (the layer below the
  caches; with the caches it is what a miss costs);
- `first_reads`: each job read once through the service with Redis empty (database, then the
  Redis fill), one request at a time from this process;
- `warm`: the service with Redis holding every document, reads with a stored API key (verified
  from the Redis key cache). The service reaches PostgreSQL through a TCP relay in this process
  that counts the bytes it forwards: `warm.pg_bytes_sent` is what the service sent to
  PostgreSQL during the warm run (0: not one query).
- `warm_side_by_side` (with `--before REV`): the warm read of this checkout and of REV's tree
  (a worktree, same venv), alternately: wrk's figures, the service's CPU per read, and the
  commands it sends Redis per read, counted by MONITOR (its round trips).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from harness import free_port, run_wrk, scratch_database

from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import attach_prediction, reserve_adhoc_job
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.services.keys import create_key

REDIS = os.environ.get("VSL_BENCH_REDIS", "redis://127.0.0.1:6379/14")
VSL = Path(sys.executable).with_name("vsl")
WRK_SCRIPT = """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/status/" .. ids[(n %% #ids) + 1], {["X-API-Key"] = "%s"})
end
"""


def start_service(
    url: str, data_dir: Path, redis_url: str | None, source: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`vsl serve` of this checkout, or of the tree at `source` (another commit's worktree)."""
    port = free_port()
    env = {
        **os.environ,
        **({"PYTHONPATH": str(source)} if source else {}),
        "DATABASE_URL": url,
        "VSL_DATA_DIR": str(data_dir),
        "REPLICATE_WEBHOOK_SECRET": "whsec_" + "A" * 43 + "=",
        "VSL_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    process = subprocess.Popen(
        [str(VSL), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("vsl serve did not start")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(15)


class CountingRelay:
    """A TCP relay to PostgreSQL counting the bytes clients send through it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.sent = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                if counted:
                    with self._lock:
                        self.sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def status_wrk(base: str, script: Path, seconds: int) -> dict[str, float]:
    figures = run_wrk(base, script, seconds)
    return {
        "requests_per_s": figures["per_s"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_commands_per_read(
    base: str, key: str, ids: list[str], reads: int = 200
) -> dict[str, float]:
    """Commands the service sends Redis per warm read, seen by Redis's MONITOR (a script's own
    commands excluded): the round trips of one read."""
    db = urlsplit(REDIS).path.strip("/") or "0"
    with tempfile.TemporaryFile("w+") as seen:  # a file: a full pipe would stall redis-cli
        watching = subprocess.Popen(
            [shutil.which("redis-cli") or "redis-cli", "-u", REDIS, "monitor"], stdout=seen
        )
        time.sleep(0.5)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}) as client:
            for n in range(reads):
                assert client.get(f"/api/status/{ids[n % len(ids)]}").status_code == 200
        time.sleep(0.5)
        watching.terminate()
        watching.wait(10)
        seen.seek(0)
        out = seen.read()
    commands: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if parts[1:2] == [f"[{db}"] and not parts[2].startswith("lua"):
            name = parts[3].split('"')[1].upper()
            commands[name] = commands.get(name, 0) + 1
    return {name: round(count / reads, 2) for name, count in sorted(commands.items())}


def warm_side_by_side(
    url: str,
    work: Path,
    script: Path,
    key: str,
    ids: list[str],
    seconds: int,
    before: Path,
    rounds: int,
) -> dict[str, list[dict[str, Any]]]:
    """The warm read of this checkout and of `before`'s tree, alternately, `rounds` each."""
    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(rounds):
        for side, source in (("before", before), ("after", None)):
            service, base = start_service(url, work, REDIS, source)
            try:
                with httpx.Client(base_url=base, headers={"X-API-Key": key}) as client:
                    for job_id in ids:  # every document and the key in Redis
                        assert client.get(f"/api/status/{job_id}").status_code == 200
                commands = redis_commands_per_read(base, key, ids)
                cpu = cpu_seconds(service.pid)
                figures: dict[str, Any] = dict(status_wrk(base, script, seconds))
                used = cpu_seconds(service.pid) - cpu
                figures["cpu_ms_per_read"] = round(
                    used * 1000 / (figures["requests_per_s"] * seconds), 3
                )
                figures["redis_commands_per_read"] = commands
                results[side].append(figures)
            finally:
                stop(service)
    return results


def run(url: str, jobs: int, seconds: int, before: Path | None = None, rounds: int = 3) -> None:
    flushed = redis.Redis.from_url(REDIS)
    flushed.flushdb()
    work = Path(tempfile.mkdtemp(prefix="vsl-status-bench-"))
    try:
        apply_migrations(Database(url))
        ids = []
        with connect(url) as conn:
            for i in range(jobs):
                row = reserve_adhoc_job(
                    conn,
                    workspace_id=default_workspace_id(conn),
                    user_id=f"user-{i % 50}",
                    media_type="image",
                    model_id="flux-schnell",
                    model_input={"prompt": f"p{i}"},
                    estimated_cost_usd=0.003,
                    pricing={"basis": "output", "usd": 0.003},
                )
                attach_prediction(conn, row.id, {"id": f"pred-{i}", "status": "processing"})
                ids.append(str(row.public_id))
        _, key = create_key(Database(url), "bench", user_id="bench", rate_per_minute=100_000)
        id_file = work / "ids.txt"
        id_file.write_text("\n".join(ids) + "\n")
        script = work / "status.lua"
        script.write_text(WRK_SCRIPT % (id_file, key))

        service, base = start_service(url, work, None)
        try:
            cold = status_wrk(base, script, seconds)
        finally:
            stop(service)

        parts = urlsplit(url)
        relay = CountingRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
        relayed_url = url.replace(
            f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{relay.port}"
        )
        service, base = start_service(relayed_url, work, REDIS)
        try:
            first: list[float] = []
            with httpx.Client(base_url=base, headers={"X-API-Key": key}) as client:
                for job_id in ids:
                    started = time.perf_counter()
                    answer = client.get(f"/api/status/{job_id}")
                    first.append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text
            relayed = relay.sent
            warm: dict[str, float] = dict(status_wrk(base, script, seconds))
            warm["pg_bytes_sent"] = relay.sent - relayed
        finally:
            stop(service)
        first.sort()
        compared = (
            warm_side_by_side(url, work, script, key, ids, seconds, before, rounds)
            if before
            else None
        )
        print(
            json.dumps(
                {
                    "jobs": jobs,
                    "connections": 8,
                    "cold": cold,
                    "first_reads": {
                        "p50_ms": round(statistics.median(first) * 1000, 3),
                        "p99_ms": round(first[int(len(first) * 0.99) - 1] * 1000, 3),
                    },
                    "warm": warm,
                    "warm_over_cold": round(warm["requests_per_s"] / cold["requests_per_s"], 2),
                    **({"warm_side_by_side": compared} if compared else {}),
                }
            )
        )
    finally:
        flushed.flushdb()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--before", help="also run the warm read of this commit's tree, alternately with ours"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")

    with scratch_database("vsl_status") as url, worktree(args.before) as before:
        run(url, args.jobs, args.seconds, before, args.rounds)


@contextlib.contextmanager
def worktree(rev: str | None) -> Iterator[Path | None]:
    """A detached worktree of `rev` (removed afterwards), or None."""
    if rev is None:
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="vsl-before-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], check=True)


if __name__ == "__main__":
    main()
