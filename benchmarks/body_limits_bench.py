"""Memory and health of `vsl serve` while clients stream huge bodies at it (issue 8, item 1).

Run: . .venv/bin/activate && python benchmarks/body_limits_bench.py [--posts 8] [--size-mb 300]
     [--checkout DIR]   # serve another checkout's code (e.g. a `git worktree` of an older commit)

Creates a scratch database on 127.0.0.1:5432 and starts the real service (`vsl serve`) as a
subprocess. Then, for each scenario, `--posts` clients in parallel each stream a `--size-mb` body
(chunked, 64 KiB chunks, never held in the client's memory) to `POST /webhooks/replicate`, and
posts again until `--seconds` have passed (a refused POST is soon over), while
`GET /healthz` is asked every 50 ms. Scenarios: `unsigned` (no webhook headers, what anyone can
send), `forged` (fresh webhook headers and a wrong signature: only the HMAC could tell), and
`declared` (unsigned, with `Content-Length`). The service's RSS is read from /proc every 10 ms;
its kernel peak (VmHWM) is reset before each scenario. Prints one JSON object per scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

SERVER = os.environ.get("VSL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
CHUNK = b"x" * 65536
ROOT = Path(__file__).resolve().parent.parent
SERVE = (sys.executable, "-c", "from vsl_pipelines.cli import main; main()", "serve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Set VmHWM back to the current RSS (Linux >= 4.0: `echo 5 > /proc/PID/clear_refs`)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Sampler(threading.Thread):
    """RSS of `pid` every `interval_s` until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.samples: list[int] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.samples.append(rss_kib(self.pid))
            time.sleep(self.interval_s)


class HealthProbe(threading.Thread):
    """`GET /healthz` every `interval_s`; latencies of answers, count of failures."""

    def __init__(self, url: str, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.url, self.interval_s = url, interval_s
        self.latencies: list[float] = []
        self.failures = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop_event.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get(self.url + "/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.latencies.append(time.perf_counter() - started)
                else:
                    self.failures += 1
                time.sleep(self.interval_s)


def attack(url: str, headers: dict[str, str], size: int, declare: bool) -> dict[str, object]:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        while sent < size:
            sent += len(CHUNK)
            yield CHUNK

    if declare:
        headers = headers | {"content-length": str(size)}
    started = time.perf_counter()
    try:
        response = httpx.post(url, content=body(), headers=headers, timeout=600)
        outcome: object = response.status_code
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return {
        "status": outcome,
        "sent_mib": round(sent / 2**20, 1),
        "s": time.perf_counter() - started,
    }


def scenario_headers(name: str) -> dict[str, str]:
    if name == "forged":
        return {
            "webhook-id": f"msg_{uuid.uuid4().hex}",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1," + "A" * 44,
            "content-type": "application/json",
        }
    return {"content-type": "application/json"}


def run_scenario(
    name: str, url: str, pid: int, posts: int, size: int, seconds: float
) -> dict[str, object]:
    time.sleep(0.5)  # let the previous scenario's connections go
    reset_peak(pid)
    before = rss_kib(pid)
    sampler, probe = Sampler(pid), HealthProbe(url)
    sampler.start()
    probe.start()
    time.sleep(0.3)
    results: list[dict[str, object]] = []
    until = time.monotonic() + seconds

    def client() -> None:
        while True:  # at least one POST each, then again until `seconds` are up
            results.append(
                attack(
                    url + "/webhooks/replicate", scenario_headers(name), size, name == "declared"
                )
            )
            if time.monotonic() > until:
                break

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    time.sleep(0.3)
    probe.stop_event.set()
    sampler.stop_event.set()
    probe.join()
    sampler.join()
    lat = sorted(probe.latencies)
    return {
        "scenario": name,
        "clients": posts,
        "size_mib": size // 2**20,
        "requests": len(results),
        "statuses": sorted({str(r["status"]) for r in results}),
        "client_sent_mib_max": max(float(str(r["sent_mib"])) for r in results),
        "attack_s": round(elapsed, 2),
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_sampled_mib": round(max(sampler.samples) / 1024, 1),
        "rss_peak_vmhwm_mib": round(rss_kib(pid, "VmHWM") / 1024, 1),
        "healthz_answers": len(lat),
        "healthz_failures": probe.failures,
        "healthz_p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "healthz_p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1) if lat else None,
        "healthz_max_ms": round(lat[-1] * 1000, 1) if lat else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=8)
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--scenarios", default="unsigned,forged,declared")
    parser.add_argument("--seconds", type=float, default=10.0, help="each client posts until")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="whose code `vsl serve` runs")
    args = parser.parse_args()

    name = f"vsl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = os.environ | {
            "PYTHONPATH": str(args.checkout.resolve()),
            "DATABASE_URL": f"{SERVER}/{name}",
            "REPLICATE_WEBHOOK_SECRET": SECRET,
            "VSL_DATA_DIR": data_dir,
            "VSL_LOG_LEVEL": "WARNING",
        }
        service = subprocess.Popen(
            [*SERVE, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=args.checkout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if service.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the service did not start")
                time.sleep(0.2)
            print(json.dumps({"checkout": str(args.checkout), "service_pid": service.pid}))
            for scenario in args.scenarios.split(","):
                figures = run_scenario(
                    scenario, url, service.pid, args.posts, args.size_mb * 2**20, args.seconds
                )
                print(json.dumps(figures), flush=True)
        finally:
            service.terminate()
            service.wait(10)
            with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
