"""Running every process of the flow on one machine: the embedded default set up, the sandbox,
the webhook service and Dagster (`vsl dev`, `vsl demo`), and all of it stopped again.

Children run in their own process groups with default signal handling, so Ctrl-C (or the end
of the demo) stops all of them, `dagster dev` included; the embedded PostgreSQL is stopped too
unless another live process holds it (the children get its URL and do not hold it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from vsl_pipelines.cli.local_oidc import (
    LocalOidcProvider,
    LocalPerson,
    OidcClient,
    OidcProviderError,
)
from vsl_pipelines.db.compilations import latest_compilation
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.embedded import embedded_server_lifetime
from vsl_pipelines.db.migrations import ready_database
from vsl_pipelines.db.scripts import ScriptExists, script_row
from vsl_pipelines.db.workspaces import workspace_by_slug
from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.domain.roles import DEFAULT_WORKSPACE, OPERATOR, Role
from vsl_pipelines.domain.script import read_script_document
from vsl_pipelines.services.intake import add_script
from vsl_pipelines.services.review import decide, review_queue
from vsl_pipelines.services.script_state import script_status
from vsl_pipelines.services.workspaces import operator, set_member
from vsl_pipelines.settings import PROJECT_ROOT, Settings

CODE_LOCATION = "vsl_pipelines.definitions"  # the location name workspace.yaml gives it
SAMPLE_SCRIPT = PROJECT_ROOT / "config" / "scripts" / "spring-launch-narrated.yaml"


class LaunchError(RuntimeError):
    """A process of the flow could not start or did not finish; the message says where to look."""


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def reset_signals() -> None:
    """In a child: default handling of Ctrl-C and SIGTERM, neither blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Ctrl-C or SIGTERM unwinds the launcher (stopping every child), even when it was
    started with SIGINT ignored."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    """Until something accepts on `port` (Dagster's code server listens once its code is
    loaded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LaunchError(f"{proc.args!r} exited early ({proc.returncode})")
        if not _port_free(port):
            return
        time.sleep(0.2)
    raise LaunchError(f"nothing listened on port {port} within {timeout_s:.0f} s")


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    # One client for every poll: each new client builds a TLS context (~0.1 s of CPU), taken
    # from the processes that are starting.
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LaunchError(f"{proc.args!r} exited early ({proc.returncode})")
            try:
                if client.get(url).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise LaunchError(f"{url} did not answer within {timeout_s:.0f} s")


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
        # Ctrl-C waits until the child is on the list, or it would be started and never stopped.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            proc = subprocess.Popen(
                args,
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                start_new_session=True,
                preexec_fn=reset_signals,
            )
            self.children.append(proc)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
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


@dataclass(frozen=True)
class Environment:
    """What every child process runs with, and where the launcher keeps its logs."""

    settings: Settings
    env: dict[str, str]
    db: Database
    log_dir: Path

    @property
    def bin_dir(self) -> Path:
        return Path(sys.executable).parent


@contextmanager
def prepared_environment(settings: Settings, schedule: str | None = None) -> Iterator[Environment]:
    """Data folder, Dagster home, database and migrations; on exit the embedded PostgreSQL is
    let go, and stopped unless another live process holds it (one left running by a process
    that is gone is adopted, so stopped too)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    with embedded_server_lifetime():
        db = ready_database(settings)
        env = dict(os.environ)
        env.update(DAGSTER_HOME=str(home), DATABASE_URL=db.url, VSL_DATA_DIR=str(settings.data_dir))
        if settings.uses_sandbox and "VSL_SANDBOX_TOKEN" not in env:
            # The sandbox and every client of it share a token made for this run.
            env["VSL_SANDBOX_TOKEN"] = f"r8_{secrets.token_urlsafe(24)}"
        if "VSL_MEDIA_SECRET" not in env:
            # Every process of the run signs and checks local media URLs with it.
            env["VSL_MEDIA_SECRET"] = secrets.token_urlsafe(32)
        if schedule:
            env["VSL_GENERATION_SCHEDULE"] = schedule
        yield Environment(settings, env, db, log_dir)


@contextmanager
def running_services(environment: Environment) -> Iterator[Processes]:
    """The sandbox (when no token is set) and the webhook service, healthy, then stopped."""
    settings = environment.settings
    ports = [settings.service_port] + ([settings.sandbox_port] if settings.uses_sandbox else [])
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        raise LaunchError(f"port(s) {busy} already in use: is another `vsl dev` running?")
    vsl = str(environment.bin_dir / "vsl")
    procs = Processes(environment.env, environment.log_dir)
    try:
        # Both start at once (each is a Python process that takes a second or two to import);
        # both are healthy before anything else starts.
        sandbox = None
        if settings.uses_sandbox:
            sandbox = procs.start("sandbox", [vsl, "sandbox", "--port", str(settings.sandbox_port)])
        service = procs.start(
            "service",
            [vsl, "serve", "--host", settings.service_host, "--port", str(settings.service_port)],
        )
        if sandbox is not None:
            _wait_http(f"{settings.replicate_api_url}/webhooks/default/secret", 60, sandbox)
        _wait_http(f"{settings.service_url}/healthz", 60, service)
        yield procs
    finally:
        procs.stop()


def add_script_file(
    db: Database,
    path: Path,
    settings: Settings,
    *,
    script_id: str | None = None,
    on_stored: Callable[[str], bool] | None = None,
    exist_ok: bool = False,
) -> str:
    """Store the script in `path` (under `script_id` if given); return its id."""
    document = read_script_document(path)
    if script_id and isinstance(document, dict):
        document["id"] = script_id
    registry = load_registry(settings.models_file, settings.models_config)
    try:
        with db.connect() as conn:
            actor = operator(conn)
        added = add_script(
            db,
            document,
            registry,
            actor=actor,
            source=str(path),
            source_path=str(path),
            on_stored=on_stored,
        )
    except ScriptExists:
        if not exist_ok or not isinstance(document, dict):
            raise
        if on_stored:
            on_stored(str(document["id"]))
        return str(document["id"])
    return added.script.id


LOCAL_PEOPLE = (("admin", Role.ADMIN), ("reviewer", Role.REVIEWER), ("writer", Role.WRITER))
LOCAL_CLIENT_ID = "vsl-studio-local"


@contextmanager
def local_sign_in(environment: Environment) -> Iterator[list[LocalPerson]]:
    """A local OpenID provider (loopback only) for the studio, with an admin, a reviewer and a
    writer of `default` (fresh passwords each run), its settings in the environment the
    service starts with; stopped on exit. Nothing when `VSL_OIDC_ISSUER` is set already."""
    if environment.env.get("VSL_OIDC_ISSUER"):
        yield []
        return
    callback = f"{environment.settings.service_url}/studio/auth/callback"
    client = OidcClient(
        LOCAL_CLIENT_ID,
        secrets.token_urlsafe(24),
        (callback,),
        (f"{environment.settings.service_url}/studio",),
    )
    people = [
        LocalPerson(f"{name}@vsl.local", secrets.token_urlsafe(9), name=name.title(), sub=name)
        for name, _ in LOCAL_PEOPLE
    ]
    with LocalOidcProvider(clients=[client], people=people) as provider:
        with environment.db.connect() as conn:
            default = workspace_by_slug(conn, DEFAULT_WORKSPACE)
            for person, (_, role) in zip(people, LOCAL_PEOPLE, strict=True):
                set_member(conn, default, person.email, role, OPERATOR, person.name)
        environment.env.update(
            VSL_OIDC_ISSUER=provider.issuer,
            VSL_OIDC_CLIENT_ID=client.client_id,
            VSL_OIDC_CLIENT_SECRET=client.client_secret,
        )
        yield people


def run_dev(
    settings: Settings, ui_port: int, on_stored: Callable[[str], bool], say: Callable[[str], None]
) -> None:
    """Sandbox, webhook service, the local sign-in provider and `dagster dev` with the sample
    script, until Ctrl-C."""
    with ExitStack() as stack:
        environment = stack.enter_context(prepared_environment(settings))
        add_script_file(environment.db, SAMPLE_SCRIPT, settings, on_stored=on_stored, exist_ok=True)
        try:
            people = stack.enter_context(local_sign_in(environment))
        except OidcProviderError as exc:
            say(f"no local sign-in provider ({exc}); the studio takes an API key instead")
            people = []
        procs = stack.enter_context(running_services(environment))
        dagster = procs.start(
            "dagster",
            [
                str(environment.bin_dir / "dagster"),
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(ui_port),
                "-w",
                "workspace.yaml",
            ],
            foreground=True,
        )
        say(
            f"Dagster UI: http://127.0.0.1:{ui_port}  studio: {settings.service_url}/studio"
            f"  review page: {settings.service_url}/review"
            f"  (logs in {environment.log_dir}; Ctrl-C stops all)"
        )
        for person in people:
            say(f"  studio sign-in (loopback only): {person.email}  password {person.password}")
        try:
            dagster.wait()
        except KeyboardInterrupt:
            say("stopping...")


def run_demo(
    settings: Settings,
    script_path: Path,
    timeout_s: float,
    on_stored: Callable[[str], bool],
    say: Callable[[str], None],
    checks: Callable[[str], dict[str, bool]] | None = None,
    launch: Callable[[Path, Path, str, dict[str, str]], object] | None = None,
) -> dict[str, Any]:
    """The whole flow headless through the Dagster daemon, approving every take; the summary
    of the compiled video once it is published, with `checks(script_id)` (its asset checks,
    asked while the daemon and its compile run are still up). `launch(dagster_home, workspace,
    job, tags)` queues the generation run in this process (else `dagster job launch` does)."""
    started = time.monotonic()
    with ExitStack() as stack:
        environment = stack.enter_context(prepared_environment(settings, schedule="* * * * *"))
        # Sensors every second, and a daemon whose sensor loop keeps that pace (Dagster's own
        # loop passes every 5 s at most; see vsl_pipelines/defs/daemon.py).
        for name in ("WEBHOOK", "APPROVAL", "COMPILE", "SCRIPTS"):
            environment.env.setdefault(f"VSL_{name}_SENSOR_INTERVAL", "1")
        environment.env.setdefault("VSL_SENSOR_LOOP", "1")
        script_id = add_script_file(
            environment.db,
            script_path,
            settings,
            script_id=f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}",
            on_stored=on_stored,
        )
        # One Dagster process at a time initialises storage: a fresh SQLite storage set up by
        # two at once can end with two schema heads. Registering the partition (`on_stored`)
        # has created the run storage; the launch runs before the daemon starts.
        # One code server loads the definitions once; the daemon (its sensors, its run queue)
        # and the launch below reach it over gRPC instead of each spawning their own.
        dagster = str(environment.bin_dir / "dagster")
        code_port = _free_port()
        code = Processes(environment.env, environment.log_dir)
        stack.callback(code.stop)
        code_server = code.start(
            "code_server",
            [
                # `dagster api grpc` whose runs fork from a process with the code imported.
                sys.executable,
                "-m",
                "vsl_pipelines.defs.code_server",
                "api",
                "grpc",
                "-m",
                "vsl_pipelines.definitions",
                "--location-name",
                CODE_LOCATION,
                "-h",
                "127.0.0.1",
                "-p",
                str(code_port),
                "-d",
                str(PROJECT_ROOT),
            ],
        )
        workspace = environment.settings.dagster_home / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {code_port}\n      location_name: {CODE_LOCATION}\n"
        )
        procs = stack.enter_context(running_services(environment))
        _wait_port(code_port, 120, code_server)
        # Generation starts now rather than at the schedule's next minute: the launch puts the
        # run in the daemon's queue, which takes it like any other run (`launch` does it in this
        # process, which has Dagster loaded already; `dagster job launch` is a process more).
        tags = {"dagster/partition": script_id, "vsl/script_id": script_id, "vsl/step": "requests"}
        if launch is not None:
            try:
                launch(environment.settings.dagster_home, workspace, "generate", tags)
            except Exception as exc:
                raise LaunchError(f"could not launch generation: {exc}") from exc
        else:
            _launch_with_cli(environment, dagster, workspace, "generate", tags)
        # The daemon after the launch: the two would otherwise initialise storage (the schedule
        # storage, the run's event log) at the same moment.
        daemon = procs.start(
            "daemon",
            [sys.executable, "-m", "vsl_pipelines.defs.daemon", "run", "-w", str(workspace)],
        )
        # A one-off generation too, as a client of the original API asks for it. One HTTP client
        # for it and the polls of its status (a client each would build a TLS context each).
        api = stack.enter_context(httpx.Client())
        adhoc = _post_json(
            api,
            f"{settings.service_url}/api/generate-media",
            {
                "userId": "demo",
                "mediaType": "image",
                "modelId": "flux-schnell",
                "parameters": {"prompt": "a product shot for the demo", "aspect_ratio": "16:9"},
            },
        )
        adhoc_status: dict[str, Any] = {"status": "pending"}
        db = environment.db
        status = "queued"
        while status != "compiled" or adhoc_status["status"] not in ("completed", "failed"):
            if time.monotonic() - started > timeout_s:
                raise LaunchError(
                    f"demo timed out with script {script_id} in status {status!r};"
                    f" logs: {environment.log_dir}"
                )
            if daemon.poll() is not None:
                raise LaunchError(
                    f"the Dagster daemon exited; see {environment.log_dir}/daemon.log"
                )
            # A quarter second: the approvals and the end are seen at once (one small query).
            time.sleep(0.25)
            if adhoc_status["status"] not in ("completed", "failed"):
                adhoc_status = _get_json(api, f"{settings.service_url}/api/status/{adhoc['jobId']}")
            with db.connect() as conn:
                row = script_row(conn, script_id)
                status = row.status
                if status == "failed":
                    raise LaunchError(
                        f"script {script_id} failed: {row.error or 'see the Dagster UI'}"
                    )
                for item in review_queue(conn, script_id):
                    decide(
                        conn,
                        script_id,
                        item["section"],
                        "approved",
                        subject=item["subject"],
                        reviewer="demo",
                    )
                    say(
                        f"approved {script_id}/{item['section']} {item['subject']}"
                        f" take {item['take']}"
                    )
        with db.connect() as conn:
            state = script_status(conn, script_id)
            latest = latest_compilation(conn, script_id)
        # The status says compiled while the compile run is still reporting its checks.
        check_results = checks(script_id) if checks else {}
    compilation = state["compilation"]
    plan = (latest.plan if latest else None) or {}
    return {
        "script_id": script_id,
        "output": compilation["output_uri"],
        "duration_s": round(compilation["duration_s"], 3),
        "clips": compilation["clip_count"],
        "cost_usd": {
            "estimated": state["estimated_cost_usd"],
            "actual": state["actual_cost_usd"],
        },
        "elapsed_s": round(time.monotonic() - started, 1),
        "sections": len(state["sections"]),
        "checks": check_results,
        "narration": narration_summary(plan),
        # Each rendition (aspect, key, size, duration) and the delivery files' keys.
        "renditions": plan.get("renditions", []),
        "delivery": plan.get("delivery", {}),
        # A script with hook variants: each cut (variant key, renditions, delivery files).
        "cuts": plan.get("cuts", []),
        "final_videos": [
            rendition["key"]
            for cut in plan.get("cuts") or [plan]
            for rendition in cut.get("renditions", [])
        ],
        "adhoc": {
            key: adhoc_status.get(key)
            for key in ("jobId", "status", "modelId", "actualCost", "result", "error")
        },
    }


def narration_summary(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Each voiced section of a compile plan: how long its voice is, how long the section
    lasts and what was done to its clip to follow the voice."""
    return [
        {
            "section": index + 1,
            "voice_s": round(clip["timing"]["voice_s"], 3),
            "section_s": round(clip["timing"]["section_s"], 3),
            "action": clip["timing"]["action"],
        }
        for index, clip in enumerate(plan.get("clips", []))
        if clip.get("timing")
    ]


def _launch_with_cli(
    environment: Environment, dagster: str, workspace: Path, job: str, tags: dict[str, str]
) -> None:
    launched = subprocess.run(
        [dagster, "job", "launch", "-w", str(workspace), "-j", job, "--tags", json.dumps(tags)],
        env=environment.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if launched.returncode != 0:
        raise LaunchError(f"could not launch generation: {launched.stderr.strip()[-2000:]}")


def _post_json(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(url, json=body, timeout=60)
    if answer.status_code >= 300:
        raise LaunchError(f"POST {url}: {answer.status_code} {answer.text[:500]}")
    document: dict[str, Any] = answer.json()
    return document


def _get_json(client: httpx.Client, url: str) -> dict[str, Any]:
    answer = client.get(url, timeout=30)
    if answer.status_code != 200:
        raise LaunchError(f"GET {url}: {answer.status_code} {answer.text[:500]}")
    document: dict[str, Any] = answer.json()
    return document
