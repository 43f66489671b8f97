"""`vsl serve --workers N`: N processes on one port storing webhooks into one inbox, all
stopped by one SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.fixtures.service import new_webhook_secret, signed_headers
from vsl_pipelines.db.database import Database
from vsl_pipelines.settings import PROJECT_ROOT

VSL = str(Path(sys.executable).with_name("vsl"))


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_workers_share_the_port_and_stop_together(db: Database, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = new_webhook_secret()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VSL_", "REDIS_"))},
        "DATABASE_URL": db.url,
        "REPLICATE_WEBHOOK_SECRET": secret,
        "VSL_DATA_DIR": str(tmp_path / "data"),
    }
    server = subprocess.Popen(
        [VSL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=PROJECT_ROOT,
        stderr=(tmp_path / "serve.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "vsl serve --workers 2 did not answer"
            time.sleep(0.2)
        workers = children_of(server.pid)
        assert len(workers) == 2

        def post(i: int) -> int:
            body = json.dumps({"id": f"p{i}", "status": "succeeded"}).encode()
            headers = signed_headers(secret, body, f"msg_{i}")
            headers["content-type"] = "application/json"
            with httpx.Client() as client:  # a connection each: the kernel spreads them
                return client.post(
                    f"{base}/webhooks/replicate", content=body, headers=headers
                ).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, range(60))) == {200}
        with db.connect() as conn:
            row = conn.execute("SELECT count(*) AS n FROM webhook_inbox").fetchone()
        assert row is not None and row["n"] == 60

        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
