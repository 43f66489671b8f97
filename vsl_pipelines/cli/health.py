"""`vsl health`: is this container's process answering? The image's HEALTHCHECK runs it.

What is checked follows `VSL_ROLE`, the role the container was started for, at the port the
role's server reads from the same environment (so a moved port needs no second setting):

| role | check |
|---|---|
| `webserver` | `GET http://127.0.0.1:$DAGSTER_WEBSERVER_PORT$DAGSTER_WEBSERVER_PATH_PREFIX/server_info` (3000) answers 2xx |
| `code-server` | `dagster api grpc-health-check` on 127.0.0.1:$DAGSTER_CODE_SERVER_PORT (`vsl role`), else $DAGSTER_GRPC_PORT, else 4000, exits 0 |
| `service` | `GET http://127.0.0.1:$VSL_SERVICE_PORT/healthz` (8080) answers 2xx |
| `daemon` | `dagster-daemon liveness-check` exits 0 (every daemon heart-beat lately) |
| unset, `run` | nothing: a run container (`dagster api execute_run`) ends by itself |

`--url` / `--grpc` check that address instead of the role's. Exit 0 when it answers, else 1
with one line on stderr naming the role, the target and what went wrong. Only the standard
library is loaded for the HTTP checks (a health check runs every few seconds); the gRPC and
daemon checks run Dagster's own commands (this module imports no Dagster code).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

ROLES = ("webserver", "code-server", "service", "daemon", "run")


class Unhealthy(Exception):
    """The target did not answer as it should; the message says how."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def http_target(role: str) -> str | None:
    """The URL a `webserver` or `service` container answers on (its server's own variables)."""
    if role == "webserver":
        prefix = _env("DAGSTER_WEBSERVER_PATH_PREFIX", "").rstrip("/")
        return f"http://127.0.0.1:{_env('DAGSTER_WEBSERVER_PORT', '3000')}{prefix}/server_info"
    if role == "service":
        return f"http://127.0.0.1:{_env('VSL_SERVICE_PORT', '8080')}/healthz"
    return None


def grpc_target() -> str:
    """Where a `code-server` container's server listens: `DAGSTER_CODE_SERVER_PORT` (what
    `vsl role code-server` and the workspace file read), else `DAGSTER_GRPC_PORT` (what
    `dagster api grpc` reads)."""
    return f"127.0.0.1:{_env('DAGSTER_CODE_SERVER_PORT', _env('DAGSTER_GRPC_PORT', '4000'))}"


def check_http(url: str, timeout: float) -> str:
    """GET `url`; its status when 2xx, else `Unhealthy`."""
    request = urllib.request.Request(url, headers={"User-Agent": "vsl-health"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise Unhealthy(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise Unhealthy(str(reason)) from exc
    if not 200 <= status < 300:
        raise Unhealthy(f"HTTP {status}")
    return f"HTTP {status}"


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise click.BadParameter(f"{address!r} is not HOST:PORT", param_hint="--grpc")
    return host.strip("[]"), int(port)


def check_grpc(address: str, timeout: float) -> str:
    """`dagster api grpc-health-check` against `address` (a gRPC health request; run as a
    command so the CLI itself imports no Dagster module)."""
    host, port = split_address(address)
    return _run_check(
        [_dagster_command("dagster"), "api", "grpc-health-check", "-p", str(port), "-h", host],
        timeout,
        "serving",
    )


def check_daemon(timeout: float) -> str:
    """`dagster-daemon liveness-check` on this container's instance (`DAGSTER_HOME`)."""
    return _run_check([_dagster_command("dagster-daemon"), "liveness-check"], timeout, "live")


def _dagster_command(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).with_name(name))


def _run_check(command: list[str], timeout: float, healthy: str) -> str:
    """Run a check command; its last line is the finding, exit status 0 healthy."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise Unhealthy(f"no answer in {timeout:g} s") from exc
    except OSError as exc:
        raise Unhealthy(str(exc)) from exc
    lines = [line for line in (done.stdout + done.stderr).strip().splitlines() if line.strip()]
    if done.returncode != 0:
        raise Unhealthy(
            " ".join(lines[-1].split())[:300] if lines else f"exit status {done.returncode}"
        )
    return lines[-1] if lines else healthy


@click.command("health")
@click.option(
    "--role",
    envvar="VSL_ROLE",
    default=None,
    help=f"What this container runs: {', '.join(ROLES)} [default: $VSL_ROLE; unset: nothing to check].",
)
@click.option("--url", default=None, help="GET this URL instead of the role's.")
@click.option("--grpc", "grpc", default=None, metavar="HOST:PORT", help="Ping this code server.")
@click.option("--timeout", default=5.0, show_default=True, type=float, help="Seconds to wait.")
def health_command(role: str | None, url: str | None, grpc: str | None, timeout: float) -> None:
    """Exit 0 when this container's role answers, else 1 with one line on stderr saying why."""
    if url and grpc:
        raise click.UsageError("--url and --grpc are two checks; give one")
    role = (role or "").strip() or None
    what = "VSL_ROLE"
    try:
        if role is not None and role not in ROLES:
            # Exit 1 like any failed check (a health check's 2 is reserved), naming the role.
            raise Unhealthy(f"unknown role {role!r}, expected one of {', '.join(ROLES)}")
        if url:
            what = f"GET {url}"
            result = check_http(url, timeout)
        elif grpc or role == "code-server":
            address = grpc or grpc_target()
            what = f"gRPC {address}"
            # Dagster's check command loads Dagster first (1.5 s here, several under load).
            result = check_grpc(address, max(timeout, 20.0))
        elif role in ("webserver", "service"):
            target = http_target(role)
            assert target is not None
            what = f"GET {target}"
            result = check_http(target, timeout)
        elif role == "daemon":
            what = "dagster-daemon liveness-check"
            # It loads the instance in a fresh interpreter: a few seconds on a busy host.
            result = check_daemon(max(timeout, 20.0))
        else:
            click.echo(f"{role or 'no role'}: nothing to check")
            return
    except Unhealthy as exc:
        click.echo(f"unhealthy: {role or 'vsl health'}: {what}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"healthy: {role or 'vsl health'}: {what}: {result}")
