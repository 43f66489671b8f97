"""`vsl dev` and `vsl demo`: set up the embedded default and run every process of the flow.

Children run in their own process groups with default signal handling, so Ctrl-C (or the end
of the demo) stops all of them, `dagster dev` included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx

from vsl_pipelines.settings import PROJECT_ROOT, get_settings

SAMPLE_SCRIPT = PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml"


def _reset_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop_on_signals() -> None:
    """Ctrl-C or SIGTERM stops every child, even when started with SIGINT ignored."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"{proc.args!r} exited early ({proc.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise click.ClickException(f"{url} did not answer within {timeout_s:.0f} s")


class Processes:
    """Child processes started in order and stopped in reverse, by process group."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, args: list[str], *, foreground: bool = False
    ) -> subprocess.Popen[bytes]:
        out = None if foreground else (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args,
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
            preexec_fn=_reset_signals,
        )
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 15
        for proc in reversed(self.children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def prepare_environment(schedule: str | None = None) -> dict[str, str]:
    """Data folder, Dagster home, embedded Postgres and migrations; the env for every child."""
    from vsl_pipelines.database import ready_database_url

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(dagster_home)
    env["DATABASE_URL"] = ready_database_url(settings)
    env.setdefault("VSL_DATA_DIR", str(settings.data_dir))
    if schedule:
        env["VSL_GENERATION_SCHEDULE"] = schedule
    os.environ.update({"DAGSTER_HOME": env["DAGSTER_HOME"], "DATABASE_URL": env["DATABASE_URL"]})
    return env


@contextmanager
def running_services(env: dict[str, str], log_dir: Path) -> Iterator[Processes]:
    """The sandbox (when no token is set) and the webhook service, healthy, then stopped."""
    settings = get_settings()
    bin_dir = Path(sys.executable).parent
    ports = [8080] + ([settings.sandbox_port] if settings.uses_sandbox else [])
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        raise click.ClickException(f"port(s) {busy} already in use: is another `vsl dev` running?")
    procs = Processes(env, log_dir)
    try:
        if settings.uses_sandbox:
            sandbox = procs.start(
                "sandbox", [str(bin_dir / "vsl"), "sandbox", "--port", str(settings.sandbox_port)]
            )
            _wait_http(f"{settings.replicate_api_url}/webhooks/default/secret", 60, sandbox)
        service = procs.start("service", [str(bin_dir / "vsl"), "serve", "--port", "8080"])
        _wait_http("http://127.0.0.1:8080/healthz", 60, service)
        yield procs
    finally:
        procs.stop()


def add_script(path: Path, script_id: str | None = None) -> str:
    """Store a script (under another id if given) and register its partition; return the id."""
    import yaml

    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.scripts import ScriptExists
    from vsl_pipelines.domain.registry import default_registry
    from vsl_pipelines.domain.script import parse_script
    from vsl_pipelines.intake import register_partition, store_script

    document = yaml.safe_load(path.read_text())
    if script_id:
        document["id"] = script_id
    registry = default_registry()
    script = parse_script(document, str(path), registry)
    with contextlib.suppress(ScriptExists):  # `vsl dev` again: the sample is already stored
        store_script(ready_database_url(), script, registry, str(path), str(path))
    register_partition(script.id)
    return script.id


@click.command("dev")
@click.option("--port", default=3000, help="Dagster UI port.")
def dev_command(port: int) -> None:
    """Sandbox, webhook service and `dagster dev` (UI on 127.0.0.1:PORT) with the sample script."""
    _stop_on_signals()
    env = prepare_environment()
    log_dir = get_settings().data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    add_script(SAMPLE_SCRIPT)
    with running_services(env, log_dir) as procs:
        dagster = procs.start(
            "dagster",
            [
                str(Path(sys.executable).parent / "dagster"),
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "workspace.yaml",
            ],
            foreground=True,
        )
        click.echo(
            f"Dagster UI: http://127.0.0.1:{port}  review page: http://127.0.0.1:8080/review"
            f"  (logs in {log_dir}; Ctrl-C stops all)",
            err=True,
        )
        try:
            dagster.wait()
        except KeyboardInterrupt:
            click.echo("stopping...", err=True)


@click.command("demo")
@click.option("--timeout", "timeout_s", default=900, help="Give up after this many seconds.")
def demo_command(timeout_s: int) -> None:
    """Run the whole flow headless through the Dagster daemon, approving every take."""
    _stop_on_signals()
    # stdout carries exactly one JSON line: everything else printed in this process goes to stderr.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.compilations import latest_compilation
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.scripts import script_row
    from vsl_pipelines.review import decide, review_queue

    env = prepare_environment(schedule="* * * * *")
    env.setdefault("VSL_WEBHOOK_SENSOR_INTERVAL", "2")
    env.setdefault("VSL_APPROVAL_SENSOR_INTERVAL", "2")
    env.setdefault("VSL_SCRIPTS_SENSOR_INTERVAL", "2")
    log_dir = get_settings().data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    script_id = add_script(SAMPLE_SCRIPT, f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    url = ready_database_url()
    started = time.monotonic()
    with running_services(env, log_dir) as procs:
        daemon = procs.start(
            "daemon",
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        )
        status = "queued"
        while status != "compiled":
            if time.monotonic() - started > timeout_s:
                raise click.ClickException(
                    f"demo timed out with script {script_id} in status {status!r}; logs: {log_dir}"
                )
            if daemon.poll() is not None:
                raise click.ClickException(f"the Dagster daemon exited; see {log_dir}/daemon.log")
            time.sleep(2)
            with connect(url) as conn:
                status = script_row(conn, script_id)["status"]
                for item in review_queue(conn, script_id):
                    decide(conn, script_id, item["section"], "approved", reviewer="demo")
                    click.echo(
                        f"approved {script_id}/{item['section']} take {item['take']}", err=True
                    )
        with connect(url) as conn:
            from vsl_pipelines.status import script_status

            state = script_status(conn, script_id)
            compilation = latest_compilation(conn, script_id, succeeded=True)
    assert compilation is not None
    line = {
        "script_id": script_id,
        "output": compilation["output_uri"],
        "duration_s": round(compilation["duration_s"], 3),
        "clips": compilation["clip_count"],
        "cost_usd": float(compilation["cost_usd"]),
        "elapsed_s": round(time.monotonic() - started, 1),
        "sections": len(state["sections"]),
    }
    result_out.write(json.dumps(line) + "\n")
    result_out.flush()
