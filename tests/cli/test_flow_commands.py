"""`vsl dev` and `vsl migrate` as a user runs them: whole processes on the embedded PostgreSQL.

`vsl demo` is in test_demo.py: a module each, so `--dist loadfile` runs them on two workers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.oidc import log_in, walk
from vsl_pipelines.cli.local_oidc import LocalPerson
from vsl_pipelines.db.embedded import embedded_server_pid
from vsl_pipelines.settings import PROJECT_ROOT

VSL = str(Path(sys.executable).parent / "vsl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment: no project variables but a data folder and free ports."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VSL_", "REPLICATE_", "DAGSTER_", "DATABASE_", "REDIS_"))
    }
    env.update(
        VSL_DATA_DIR=str(tmp_path / "data"),
        VSL_SERVICE_PORT=str(free_port()),
        VSL_SANDBOX_PORT=str(free_port()),
    )
    env.update(extra)
    return env


# A process that takes the embedded server and sleeps (until killed, so never letting go).
HOLD = (
    "import sys, time; from pathlib import Path;"
    " from vsl_pipelines.db.embedded import embedded_database_url;"
    " embedded_database_url(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)"
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("leftover", [False, True], ids=["fresh", "left-by-a-killed-process"])
def test_ctrl_c_stops_dev_and_the_embedded_postgres_it_started(
    tmp_path: Path, embedded_data_dir: Path, leftover: bool
) -> None:
    """Ctrl-C stops everything `vsl dev` started, the embedded PostgreSQL too; one a killed
    process left running is adopted and stopped as well."""
    env = user_env(tmp_path, VSL_DATA_DIR=str(embedded_data_dir))
    data_dir = Path(env["VSL_DATA_DIR"])
    service_port, ui_port = int(env["VSL_SERVICE_PORT"]), free_port()
    left = None
    if leftover:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(data_dir)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        holder.kill()
        holder.wait()
        left = embedded_server_pid(data_dir)
        assert left is not None
    dev = subprocess.Popen(
        [VSL, "dev", "--port", str(ui_port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "dev.log").open("wb"),
    )
    issuer = None
    try:
        deadline = time.monotonic() + 180
        # One client for the polls: a client per request builds a TLS context (~0.1 s of CPU),
        # CPU the starting processes want.
        with httpx.Client(timeout=2) as poll:
            while True:
                assert dev.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
                try:
                    service = poll.get(f"http://127.0.0.1:{service_port}/healthz")
                    ui = poll.get(f"http://127.0.0.1:{ui_port}/server_info")
                    if service.is_success and ui.is_success:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "vsl dev did not start its service and the UI"
                time.sleep(0.2)
        pid = embedded_server_pid(data_dir)
        assert pid is not None, "vsl dev started the embedded PostgreSQL"
        if left is not None:
            assert pid == left, "vsl dev uses the server it found"
            assert "adopts it" in (tmp_path / "dev.log").read_text()
        else:
            issuer = _signs_in_through_the_local_provider(
                f"http://127.0.0.1:{service_port}", tmp_path / "dev.log"
            )

        dev.send_signal(signal.SIGINT)
        assert dev.wait(60) == 0 or dev.returncode in (1, -signal.SIGINT)
    finally:
        if dev.poll() is None:
            dev.kill()
    assert embedded_server_pid(data_dir) is None, "the embedded PostgreSQL was left running"
    assert not port_open(service_port), "the webhook service was left running"
    assert not port_open(int(env["VSL_SANDBOX_PORT"])), "the sandbox was left running"
    assert not port_open(ui_port), "the Dagster UI was left running"
    if issuer is not None:
        assert not port_open(int(issuer.rsplit(":", 1)[1])), "the sign-in provider was left running"


def _signs_in_through_the_local_provider(service: str, out: Path) -> str:
    """The admin `vsl dev` printed (on stderr, `out`) signs in to the studio through its local OpenID provider
    (over httpx, as a browser would); the provider's issuer."""
    deadline = time.monotonic() + 30
    while "writer@vsl.local" not in out.read_text():
        assert time.monotonic() < deadline, out.read_text()[-2000:]
        time.sleep(0.2)
    # An admin, a reviewer and a writer of `default`, each with a password of this run.
    people = dict(re.findall(r"(\w+)@vsl\.local\s+password (\S+)", out.read_text()))
    assert set(people) == {"admin", "reviewer", "writer"}, out.read_text()
    assert len(set(people.values())) == 3
    printed = re.search(r"(admin@vsl\.local)\s+password (\S+)", out.read_text())
    assert printed, out.read_text()
    admin = LocalPerson(printed[1], printed[2])
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        start = browser.get(f"{service}/studio/auth/start")
        assert start.status_code == 302, start.text[:300]
        authorize = start.headers["location"]
        issuer = f"{urlsplit(authorize).scheme}://{urlsplit(authorize).netloc}"
        callback = log_in(browser, walk(browser, browser.get(authorize)), admin)
        back = browser.get(callback)
        assert back.status_code == 303, back.text[:500]
        studio = browser.get(f"{service}/studio")
        assert studio.status_code == 200 and admin.email in studio.text
    return issuer


@pytest.mark.timeout(180)
def test_migrate_leaves_the_embedded_postgres_as_it_found_it(
    tmp_path: Path, embedded_data_dir: Path
) -> None:
    """`make dev` and `make demo` run `vsl migrate` first: a server it starts must not outlive
    it, or `vsl dev` would find it running and leave it running on Ctrl-C."""
    env = user_env(tmp_path, VSL_DATA_DIR=str(embedded_data_dir))
    data_dir = Path(env["VSL_DATA_DIR"])
    for expected in ("0001_initial", None):
        done = subprocess.run(
            [VSL, "migrate"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        applied = json.loads(done.stdout)["applied"]
        assert (applied[0] if applied else None) == expected
        assert embedded_server_pid(data_dir) is None, "vsl migrate left PostgreSQL running"
