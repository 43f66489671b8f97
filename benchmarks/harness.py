"""What the benchmarks share: a free port, a scratch database on the test server, and `wrk`
with its figures parsed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from vsl_pipelines.db.connection import close_pool

SERVER = os.environ.get("VSL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
# What a process talking to the local moto server needs (moto accepts any credentials).
MOTO_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


# The `default` workspace's id, inside a statement that fills tables directly.
DEFAULT_WORKSPACE = "(SELECT id FROM workspaces WHERE slug = 'default')"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def scratch_database(prefix: str = "vsl_bench") -> Iterator[str]:
    """A new, empty database on `VSL_TEST_PG` (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    try:
        yield url
    finally:
        close_pool(url)
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_wrk(base_url: str, script: Path, seconds: int, connections: int = 8) -> dict[str, float]:
    """`wrk -t1 -c8 --latency` with a Lua script: requests/s, p50 and p99 in ms. Any non-2xx
    answer is an error (the benchmarks send only requests that must be accepted)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            base_url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw refusals:\n{out}")

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 3)

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate, out
    return {"per_s": float(rate.group(1)), "p50_ms": ms("50"), "p99_ms": ms("99")}


@contextmanager
def moto_server() -> Iterator[str]:
    """A local moto server (DynamoDB, S3) in its own process, one request at a time as the
    tests run it (tests/serve_moto.py): its endpoint URL."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.serve_moto import running_moto

    with running_moto() as endpoint:
        yield endpoint
