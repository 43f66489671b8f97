"""The embedded PostgreSQL (no DATABASE_URL) outlives no `vsl` command that used it, unless
another live process still holds it: real commands as subprocesses on fresh data folders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.fixtures.embedded import postmasters
from tests.fixtures.service import new_webhook_secret
from vsl_pipelines.db.embedded import embedded_server_holders, embedded_server_pid
from vsl_pipelines.settings import PROJECT_ROOT

VSL = str(Path(sys.executable).parent / "vsl")
SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml"


def user_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A user's environment on the embedded default: no project variable but the data folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VSL_", "REPLICATE_", "DAGSTER_", "DATABASE_", "REDIS_"))
    }
    env.update(VSL_DATA_DIR=str(data_dir), VSL_LOG_LEVEL="WARNING", **extra)
    return env


def assert_stopped(data_dir: Path, after: str) -> None:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    assert not pid_file.exists(), f"{after}: postmaster.pid left ({pid_file.read_text()!r})"
    assert postmasters(data_dir) == [], f"{after}: PostgreSQL still running on {data_dir}"


def vsl(data_dir: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [VSL, *args],
        env=user_env(data_dir),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, (
        f"vsl {' '.join(args)}: {done.returncode}\n{done.stderr[-3000:]}"
    )
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_service(data_dir: Path, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`vsl serve` on the embedded default, healthy; killed at the end if still running."""
    port = free_port()
    env = user_env(data_dir, REPLICATE_WEBHOOK_SECRET=new_webhook_secret())
    proc = subprocess.Popen(
        [VSL, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "vsl serve did not answer"
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(300)
def test_every_database_command_stops_the_server_it_started(
    embedded_data_dir: Path, tmp_path: Path
) -> None:
    """Each command that reads or writes the database, succeeding or refused, on a data folder
    where nothing else runs: the server it starts is gone when it has exited."""
    data_dir = embedded_data_dir
    script_id = f"lifetime-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "script.yaml"
    script.write_text(SAMPLE.read_text().replace("id: spring-launch", f"id: {script_id}", 1))
    assert f"id: {script_id}" in script.read_text()

    commands: list[tuple[list[str], int]] = [
        (["migrate"], 0),  # the first one also makes the cluster (initdb)
        (["keys", "create", "--name", "ci", "--rate", "10/minute"], 0),
        (["keys", "list"], 0),
        (["keys", "create", "--name", "ci"], 2),  # refused: the name is taken
        (["keys", "revoke", "ci"], 0),
        (["scripts", "add", str(script)], 0),
        (["scripts", "add", str(script)], 2),  # refused: the id is taken
        (["scripts", "list"], 0),
        (["scripts", "show", script_id], 0),
        (["scripts", "show", "no-such-script"], 2),
        (["scripts", "retry", script_id], 2),  # refused: it has not failed
        (["review", "list"], 0),
        (["review", "approve", script_id, "hook"], 2),  # refused: no take to decide yet
        (["review", "reject", script_id, "hook", "--note", "no"], 2),
        (["jobs", "show", str(uuid.uuid4())], 2),  # refused: no such job
    ]
    outputs = {}
    for args, code in commands:
        done = vsl(data_dir, *args, code=code)
        assert_stopped(data_dir, f"vsl {' '.join(args)}")
        outputs[" ".join(args)] = done.stdout
    # They did their work on the one database, each starting the server again.
    assert json.loads(outputs["migrate"])["applied"], outputs["migrate"]
    [key] = json.loads(outputs["keys list"])
    assert key["name"] == "ci"
    assert script_id in outputs["scripts list"]
    assert json.loads(outputs[f"scripts show {script_id}"])
    assert embedded_server_holders(data_dir) == []


@pytest.mark.timeout(240)
def test_a_command_leaves_the_server_to_the_process_holding_it(
    embedded_data_dir: Path, tmp_path: Path
) -> None:
    """While `vsl serve` holds the server, a command uses it and leaves it running; the
    service, the last to hold it, stops it on SIGTERM (single process) and on Ctrl-C."""
    data_dir = embedded_data_dir
    for stop in (signal.SIGTERM, signal.SIGINT):
        with running_service(data_dir, tmp_path / f"serve-{stop.name}.log") as service:
            pid = embedded_server_pid(data_dir)
            assert pid is not None and service.pid in embedded_server_holders(data_dir)

            vsl(data_dir, "keys", "create", "--name", f"while-{stop.name}")
            assert embedded_server_pid(data_dir) == pid, "a command stopped a server it shared"
            listed = json.loads(vsl(data_dir, "keys", "list").stdout)
            assert f"while-{stop.name}" in [k["name"] for k in listed]
            assert embedded_server_pid(data_dir) == pid
            assert embedded_server_holders(data_dir) == [service.pid]

            service.send_signal(stop)
            service.wait(60)
        assert_stopped(data_dir, f"vsl serve after {stop.name}")


@pytest.mark.timeout(240)
def test_workers_stop_the_server_with_their_parent(embedded_data_dir: Path, tmp_path: Path) -> None:
    data_dir = embedded_data_dir
    with running_service(data_dir, tmp_path / "serve.log", "--workers", "2") as service:
        deadline = time.monotonic() + 60  # the first worker may answer before the second holds
        while len(holders := embedded_server_holders(data_dir)) < 3:
            assert time.monotonic() < deadline, holders
            time.sleep(0.2)
        assert service.pid in holders and len(holders) == 3, holders  # the parent, two workers
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert_stopped(data_dir, "vsl serve --workers 2 after SIGTERM")


@pytest.mark.timeout(240)
def test_a_server_left_by_a_killed_process_is_adopted_and_stopped(
    embedded_data_dir: Path, tmp_path: Path
) -> None:
    """A holder killed outright cannot let go: the next command adopts the server it left
    running, says so, and stops it."""
    data_dir = embedded_data_dir
    with running_service(data_dir, tmp_path / "serve.log") as service:
        pid = embedded_server_pid(data_dir)
        service.kill()
        service.wait()
    assert embedded_server_pid(data_dir) == pid, "the killed service left its server running"
    assert embedded_server_holders(data_dir) == []

    done = vsl(data_dir, "scripts", "list")
    assert "adopts it and stops it" in done.stderr, done.stderr
    assert_stopped(data_dir, "vsl scripts list after a killed holder")
