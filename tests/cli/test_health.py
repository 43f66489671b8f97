"""`vsl health`, what the image's HEALTHCHECK runs, against real servers: the webhook service,
a Dagster code server (`dagster api grpc`), a webserver in front of it and the daemon; and the
same checks with nothing listening. Run as a process, as the HEALTHCHECK does."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.database import SERVER_URL
from vsl_pipelines.db.database import Database
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.web.server import RunningService

BIN = Path(sys.executable).parent
VSL = str(BIN / "vsl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the variables the check reads, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSL_", "DAGSTER_", "REDIS_"))}
    return {**env, **extra}


def health(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VSL, "health", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stderr_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed check writes to stderr."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def wait_until(
    ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 90
    while not ready():
        assert proc.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not ready:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """`start(name, argv, **env)`: a server in its own process group (default signal handling),
    its output in tmp_path/NAME.log; every group is killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(name: str, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env=clean_env(**env),
            cwd=PROJECT_ROOT,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        with_group(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with_group(proc, signal.SIGKILL)
            proc.wait(5)


def with_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """An instance of its own (SQLite under tmp_path), no telemetry."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


@pytest.fixture
def code_server(
    start: Callable[..., subprocess.Popen[bytes]], dagster_home: Path, tmp_path: Path
) -> int:
    """`dagster api grpc -m vsl_pipelines.definitions` on a free port (the code-server role)."""
    port = free_port()
    proc = start(
        "code-server",
        [str(BIN / "dagster"), "api", "grpc", "-m", "vsl_pipelines.definitions"],
        DAGSTER_HOME=str(dagster_home),
        DAGSTER_GRPC_HOST="127.0.0.1",
        DAGSTER_GRPC_PORT=str(port),
        VSL_DATA_DIR=str(tmp_path / "data"),
    )
    wait_until(lambda: port_open(port), "dagster api grpc", proc, tmp_path / "code-server.log")
    return port


def service_port(service: RunningService) -> str:
    return service.url.rsplit(":", 1)[1]


def test_no_role_or_a_run_container_has_nothing_to_check() -> None:
    for env in ({}, {"VSL_ROLE": "run"}):
        done = health(**env)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""


def test_an_unknown_role_fails_naming_it() -> None:
    done = health(VSL_ROLE="web-server")
    assert done.returncode == 1
    assert "unknown role 'web-server'" in stderr_line(done)


def test_service_role_answers_through_its_port(webhook_service: RunningService) -> None:
    done = health(VSL_ROLE="service", VSL_SERVICE_PORT=service_port(webhook_service))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"healthy: service: GET {webhook_service.url}/healthz: HTTP 200")


def test_service_whose_database_is_gone_is_unhealthy(
    webhook_service: RunningService, db: Database
) -> None:
    name = db.url.rsplit("/", 1)[1]
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    done = health(VSL_ROLE="service", VSL_SERVICE_PORT=service_port(webhook_service))
    assert done.returncode == 1
    assert stderr_line(done) == (f"unhealthy: service: GET {webhook_service.url}/healthz: HTTP 503")


def test_url_option_checks_that_url(webhook_service: RunningService) -> None:
    done = health("--url", f"{webhook_service.url}/healthz")
    assert done.returncode == 0, done.stderr
    done = health("--url", f"{webhook_service.url}/server_info", VSL_ROLE="webserver")
    assert done.returncode == 1
    assert stderr_line(done) == (
        f"unhealthy: webserver: GET {webhook_service.url}/server_info: HTTP 404"
    )


def test_code_server_answers_a_ping(code_server: int) -> None:
    done = health(VSL_ROLE="code-server", DAGSTER_GRPC_PORT=str(code_server))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"healthy: code-server: gRPC 127.0.0.1:{code_server}: gRPC connection successful"
    )
    done = health("--grpc", f"127.0.0.1:{code_server}")
    assert done.returncode == 0, done.stderr


def test_webserver_in_front_of_the_code_server(
    code_server: int,
    start: Callable[..., subprocess.Popen[bytes]],
    dagster_home: Path,
    tmp_path: Path,
) -> None:
    """The deployment's shape: a webserver loading the location from the code server."""
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {code_server}\n      location_name: vsl_pipelines\n"
    )
    port = free_port()
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_WEBSERVER_PORT": str(port),
        "DAGSTER_WEBSERVER_PATH_PREFIX": "/dagster",
    }
    proc = start(
        "webserver",
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-w", str(workspace)],
        **env,
    )
    wait_until(lambda: port_open(port), "dagster-webserver", proc, tmp_path / "webserver.log")
    done = health(VSL_ROLE="webserver", **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"healthy: webserver: GET http://127.0.0.1:{port}/dagster/server_info: HTTP 200"
    )


def test_daemon_is_live_once_it_heart_beats(
    start: Callable[..., subprocess.Popen[bytes]], dagster_home: Path, tmp_path: Path
) -> None:
    env = {"DAGSTER_HOME": str(dagster_home), "VSL_DATA_DIR": str(tmp_path / "data")}
    done = health(VSL_ROLE="daemon", **env)
    assert done.returncode == 1
    assert stderr_line(done) == (
        "unhealthy: daemon: dagster-daemon liveness-check: Daemon(s) not running"
    )
    proc = start(
        "daemon", [str(BIN / "dagster-daemon"), "run", "-m", "vsl_pipelines.definitions"], **env
    )
    deadline = time.monotonic() + 90
    while (done := health(VSL_ROLE="daemon", **env)).returncode != 0:
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert time.monotonic() < deadline, done.stderr
        time.sleep(1)
    assert done.stdout.strip() == "healthy: daemon: dagster-daemon liveness-check: Daemon live"


@pytest.mark.parametrize(
    ("role", "variable", "target"),
    [
        ("webserver", "DAGSTER_WEBSERVER_PORT", "GET http://127.0.0.1:{port}/server_info"),
        ("service", "VSL_SERVICE_PORT", "GET http://127.0.0.1:{port}/healthz"),
        ("code-server", "DAGSTER_GRPC_PORT", "gRPC 127.0.0.1:{port}"),
    ],
)
def test_nothing_listening_fails_with_one_line(role: str, variable: str, target: str) -> None:
    port = free_port()
    done = health(VSL_ROLE=role, **{variable: str(port)})
    assert done.returncode == 1
    assert done.stdout == ""
    line = stderr_line(done)
    assert line.startswith(f"unhealthy: {role}: {target.format(port=port)}: "), line
    # HTTP names the refusal; Dagster's gRPC health check says it could not connect.
    assert any(word in line.lower() for word in ("refused", "unable to connect")), line
