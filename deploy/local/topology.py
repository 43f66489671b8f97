"""The production topology on this machine, for real: `make test-deploy`.

Every Dagster process and the webhook service run as containers of the one image
(`localhost/vsl-pipelines:latest`, built by `make image`), on the host network:

- PostgreSQL: the machine's server, one database for Dagster and one for the app;
- Redis: the machine's server; S3 and DynamoDB: a moto server; Replicate: the sandbox;
- the code server, `dagster-webserver`, `dagster-daemon` with the `DockerRunLauncher` on
  podman's Docker-compatible socket (each run in its own container), and two `vsl serve`
  replicas that the sandbox's webhooks are spread over, as by a load balancer.

It submits the sample script (two hook variants, three renditions, delivery) over the API,
approves every take over the API, kills one run's container mid-run (run monitoring must see
it and the instance retry it), waits for the compiled video in S3, decodes it, finds the six
final videos and each cut's delivery files there, then times ad-hoc images as an integrator
waits for them (the sandbox's model time at 0, status polled every 50 ms, the stored output
fetched: `adhoc_post_to_completed_s`), and prints one JSON line:
`{"storage", "runs", "containers", "output", "duration_s", "adhoc_post_to_completed_s", ...}`.
Everything it started is stopped and removed, whatever happens. Exit status 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("VSL_IMAGE", "localhost/vsl-pipelines:latest")
PG_SERVER = os.environ.get("VSL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_SERVER = os.environ.get("VSL_TEST_REDIS", "redis://127.0.0.1:6379")
REGION = "us-east-1"
# Voiced, two hook variants, three renditions and the landing page's delivery files (issue 27).
SAMPLE_SCRIPT = ROOT / "config" / "scripts" / "spring-launch-variants.yaml"
FINAL_VIDEOS = 6  # two cuts (one per hook) x three renditions
# The job whose first run has its container killed once it has started: `generate`, the run
# every script has (outputs are collected by the service at their webhooks, issue 25, so a
# collecting run happens only when that did not finish).
KILLED_JOB = "generate"
ADHOC_JOBS = 8  # ad-hoc images timed as an integrator waits for them, after the flow
POLL_S = 0.05


class TopologyError(Exception):
    """A step of the topology failed; the message says which and where its logs are."""


def say(message: str) -> None:
    print(f"[topology {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    what: str, ready: Callable[[], bool], timeout_s: float, interval_s: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(interval_s)
    raise TopologyError(f"{what} not ready within {timeout_s:.0f} s")


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise TopologyError(f"podman {args[0]} failed: {done.stderr.strip()[-1500:]}")
    return done


class Topology:
    """Starts the parts in order and remembers each, so `close` stops all of them."""

    def __init__(self, work: Path) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.work = work
        self.prefix = f"vsl-topo-{self.id}"
        self.containers: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.databases: list[str] = []
        self.run_ids: set[str] = set()
        self.workspace_key = ""  # a reviewer key of `acme`, made once the database is migrated
        self.ports = {
            name: free_port() for name in ("moto", "sandbox", "code", "web", "svc1", "svc2")
        }
        self.socket = work / "podman.sock"
        self.redis_db = 11
        self.env = self._environment()

    # -- configuration -----------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """What every container gets (written to a 0600 env file, never on a command line)."""
        p = self.ports
        token = f"r8_{secrets.token_urlsafe(24)}"
        return {
            "DAGSTER_PG_URL": f"{PG_SERVER}/vsl_topo_{self.id}_dagster",
            "DATABASE_URL": f"{PG_SERVER}/vsl_topo_{self.id}_app",
            "REDIS_URL": f"{REDIS_SERVER}/{self.redis_db}",
            "VSL_S3_BUCKET": f"{self.prefix}-media",
            "VSL_S3_PREFIX": "",  # passed to runs by name: set, empty where unused
            "VSL_MEDIA_URL": "",
            "VSL_DYNAMODB_TABLE": f"{self.prefix}-inbox",
            "VSL_DYNAMODB_JOBS_TABLE": f"{self.prefix}-jobs",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{p['moto']}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "REPLICATE_API_TOKEN": token,
            "VSL_SANDBOX_TOKEN": token,
            "REPLICATE_BASE_URL": f"http://127.0.0.1:{p['sandbox']}/v1",
            "REPLICATE_WEBHOOK_SECRET": "whsec_"
            + base64.b64encode(secrets.token_bytes(24)).decode(),
            "VSL_API_KEY": "vsl_" + secrets.token_urlsafe(24),
            # Predictions name replica 1; the sandbox spreads deliveries over both replicas.
            "VSL_WEBHOOK_URL": f"http://127.0.0.1:{p['svc1']}/webhooks/replicate",
            "VSL_IMAGE": IMAGE,
            "VSL_RUN_NETWORK": "host",
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
            "DAGSTER_CODE_SERVER_PORT": str(p["code"]),
            "DAGSTER_WEBSERVER_PORT": str(p["web"]),
            # Prompt sensors: the flow is small and the machine is ours.
            "VSL_SENSOR_LOOP": "1",
            "VSL_WEBHOOK_SENSOR_INTERVAL": "1",
            "VSL_APPROVAL_SENSOR_INTERVAL": "1",
            "VSL_COMPILE_SENSOR_INTERVAL": "1",
            "VSL_SCRIPTS_SENSOR_INTERVAL": "2",
            "VSL_LOG_LEVEL": "INFO",
        }

    @property
    def env_file(self) -> Path:
        path = self.work / "env"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.writelines(f"{k}={v}\n" for k, v in self.env.items())
        return path

    # -- parts ----------------------------------------------------------------------------

    def host_process(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> None:
        log = (self.work / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # stopped by process group, default signal handling
        )
        self.processes.append(proc)

    def container(self, name: str, command: list[str], *options: str) -> str:
        full = f"{self.prefix}-{name}"
        podman(
            "run",
            "-d",
            "--name",
            full,
            "--network",
            "host",
            "--label",
            f"vsl-topology={self.id}",
            "--env-file",
            str(self.env_file),
            *options,
            IMAGE,
            *command,
        )
        self.containers.append(full)
        return full

    def one_shot(self, command: list[str], timeout: float = 300) -> str:
        done = podman(
            "run",
            "--rm",
            "--network",
            "host",
            "--env-file",
            str(self.env_file),
            IMAGE,
            *command,
            check=False,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise TopologyError(f"{' '.join(command)} failed: {done.stderr.strip()[-1500:]}")
        return done.stdout

    def start(self) -> None:
        if podman("image", "exists", IMAGE, check=False).returncode != 0:
            raise TopologyError(f"no image {IMAGE}: run `make image` first")
        self._databases()
        self.host_process(
            "podman-service", ["podman", "system", "service", "--time=0", f"unix://{self.socket}"]
        )
        wait_for("podman's Docker API socket", self.socket.exists, 30)
        # The daemon's container runs as the image's non-root user.
        os.chmod(self.socket, 0o666)
        # moto one request at a time: two replicas write the DynamoDB inbox at once, and
        # moto's conditional writes are not atomic (tests/serve_moto.py).
        serve_moto = ROOT / "tests" / "serve_moto.py"
        self.host_process(
            "moto", [sys.executable, str(serve_moto), "127.0.0.1", str(self.ports["moto"])]
        )
        wait_for("moto", lambda: httpx.get(self.env["AWS_ENDPOINT_URL"]).status_code < 500, 60)
        self._aws_resources()
        say("migrating the app database and Dagster's")
        self.one_shot(["vsl", "migrate"])
        # The flow runs as an integrator of a workspace would: with a reviewer key of `acme`.
        self.one_shot(["vsl", "workspaces", "create", "acme", "--name", "Acme"])
        made = self.one_shot(
            [
                *("vsl", "keys", "create", "--name", "flow", "--workspace", "acme"),
                *("--role", "reviewer", "--rate", "6000/minute"),  # the flow polls twice a second
            ]
        )
        self.workspace_key = made.strip().splitlines()[-1]
        self.one_shot(["dagster", "instance", "migrate"])
        for pool, limit in (("replicate", "4"), ("ffmpeg", "2")):
            self.one_shot(["dagster", "instance", "concurrency", "set", pool, limit])
        p = self.ports
        self.container("code", ["vsl", "role", "code-server"], "-e", "VSL_ROLE=code-server")
        wait_for("the code server", lambda: _port_open(p["code"]), 180)
        self.container("webserver", ["vsl", "role", "webserver"], "-e", "VSL_ROLE=webserver")
        sock = [
            "-v",
            f"{self.socket}:/run/podman.sock",
            "-e",
            "DOCKER_HOST=unix:///run/podman.sock",
        ]
        self.container("daemon", ["vsl", "role", "daemon"], "-e", "VSL_ROLE=daemon", *sock)
        for replica in ("svc1", "svc2"):
            self.container(
                replica,
                ["vsl", "role", "service", "--port", str(p[replica])],
                *("-e", "VSL_ROLE=service", "-e", f"VSL_SERVICE_PORT={p[replica]}"),
            )
        self.container(
            "sandbox",
            [
                "vsl",
                "sandbox",
                "--port",
                str(p["sandbox"]),
                "--data-dir",
                "/tmp/sandbox",
                "--latency",
                "0.3",
                "--webhook-target",
                f"http://127.0.0.1:{p['svc1']}",
                "--webhook-target",
                f"http://127.0.0.1:{p['svc2']}",
            ],
        )
        for replica in ("svc1", "svc2"):
            wait_for(
                f"replica {replica}",
                lambda r=replica: httpx.get(f"http://127.0.0.1:{p[r]}/healthz").status_code == 200,
                120,
            )
        wait_for(
            "the webserver",
            lambda: httpx.get(f"http://127.0.0.1:{p['web']}/server_info").status_code == 200,
            180,
        )
        wait_for("the sandbox", lambda: _port_open(p["sandbox"]), 60)

    def _databases(self) -> None:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            for url in (self.env["DAGSTER_PG_URL"], self.env["DATABASE_URL"]):
                name = url.rsplit("/", 1)[1]
                conn.execute(f'CREATE DATABASE "{name}"')
                self.databases.append(name)

    def _aws_resources(self) -> None:
        from vsl_pipelines.inbox.dynamodb import create_inbox_table
        from vsl_pipelines.job_status.dynamodb_table import create_jobs_table

        s3, dynamodb = (self.aws(service) for service in ("s3", "dynamodb"))
        s3.create_bucket(Bucket=self.env["VSL_S3_BUCKET"])
        create_inbox_table(dynamodb, self.env["VSL_DYNAMODB_TABLE"])
        create_jobs_table(dynamodb, self.env["VSL_DYNAMODB_JOBS_TABLE"])

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    # -- what an operator, an integrator and a reviewer do ---------------------------------

    def api(self, method: str, path: str, replica: str = "svc1", **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"http://127.0.0.1:{self.ports[replica]}/api{path}",
            headers={"x-api-key": self.workspace_key, **kwargs.pop("headers", {})},
            timeout=30,
            **kwargs,
        )
        if response.status_code >= 400:
            raise TopologyError(
                f"{method} /api{path}: {response.status_code} {response.text[:500]}"
            )
        return response.json()

    def webserver_runs(self) -> set[str]:
        """The run ids the Dagster UI's GraphQL API lists (what an operator sees)."""
        response = httpx.post(
            f"http://127.0.0.1:{self.ports['web']}/graphql",
            json={"query": "{ runsOrError { ... on Runs { results { runId } } } }"},
            timeout=30,
        )
        response.raise_for_status()
        return {r["runId"] for r in response.json()["data"]["runsOrError"]["results"]}

    def dagster_runs(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.env["DAGSTER_PG_URL"]) as conn:
            rows = conn.execute(
                "SELECT run_id, pipeline_name, status, run_body FROM runs"
            ).fetchall()
        runs = []
        for run_id, job, status, body in rows:
            tags = json.loads(body).get("tags", {})
            runs.append({"run_id": run_id, "job": job, "status": status, "tags": tags})
        self.run_ids.update(r["run_id"] for r in runs)
        return runs

    def failure_reason(self, run_id: str) -> str:
        """What the instance recorded when it failed the run (run monitoring's finding)."""
        with psycopg.connect(self.env["DAGSTER_PG_URL"]) as conn:
            rows = conn.execute(
                "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type"
                " IN ('ENGINE_EVENT', 'PIPELINE_FAILURE') ORDER BY id",
                [run_id],
            ).fetchall()
        for (event,) in rows:
            message = (json.loads(event).get("dagster_event") or {}).get("message") or ""
            # Run monitoring's words: "Detected run worker status WorkerStatus.FAILED:
            # 'Container status is exited. ...'"
            if "worker status" in message.lower():
                return " ".join(message.split())[:200]
        return ""

    def leaked_secrets(self) -> list[str]:
        """Which secrets appear in a container's log or in Dagster's storage (runs, their
        config and tags, event logs): none may."""
        names = ("REPLICATE_API_TOKEN", "REPLICATE_WEBHOOK_SECRET", "VSL_API_KEY")
        texts = []
        for name in self.containers + [c["Id"] for c in self.run_containers()]:
            logs = podman("logs", name, check=False)
            texts.append(logs.stdout + logs.stderr)
        with psycopg.connect(self.env["DAGSTER_PG_URL"]) as conn:
            texts += [r[0] for r in conn.execute("SELECT run_body FROM runs")]
            texts += [r[0] for r in conn.execute("SELECT event FROM event_logs")]
        everything = "\n".join(texts)
        secret_parts = {n: self.env[n].removeprefix("whsec_") for n in names}
        secret_parts["the workspace key"] = self.workspace_key
        return [n for n, value in secret_parts.items() if value in everything]

    def run_containers(self) -> list[dict[str, Any]]:
        done = podman("ps", "-a", "--filter", "label=dagster/run_id", "--format", "json")
        return [
            c
            for c in json.loads(done.stdout or "[]")
            if c.get("Labels", {}).get("dagster/run_id") in self.run_ids
        ]

    def kill_first_started(self, job: str) -> str | None:
        """Kill the container of `job`'s first run once the run has started."""
        for run in self.dagster_runs():
            if (
                run["job"] == job
                and run["status"] == "STARTED"
                and "dagster/parent_run_id" not in run["tags"]
            ):
                container = run["tags"].get("docker/container_id")
                if container:
                    podman("kill", container, check=False)
                    say(f"killed the container of run {run['run_id']} ({job}) mid-run")
                    return str(run["run_id"])
        return None

    def replica_webhooks(self, replica: str) -> int:
        logs = podman("logs", f"{self.prefix}-{replica}", check=False)
        count = 0
        for line in (logs.stdout + logs.stderr).splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("logger") == "vsl_pipelines.web.webhooks" and entry.get("outcome") in (
                    "stored",
                    "duplicate",
                ):
                    count += 1
        return count

    # -- teardown ---------------------------------------------------------------------------

    def save_logs(self) -> None:
        for name in self.containers:
            logs = podman("logs", name, check=False)
            (self.work / f"{name}.log").write_text(logs.stdout + logs.stderr)
        for c in self.run_containers():
            logs = podman("logs", c["Id"], check=False)
            run_id = c["Labels"]["dagster/run_id"]
            (self.work / f"run-{run_id}.log").write_text(logs.stdout + logs.stderr)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.dagster_runs()
        with contextlib.suppress(Exception):
            self.save_logs()
        with contextlib.suppress(Exception):
            ids = [c["Id"] for c in self.run_containers()]
            if ids:
                podman("rm", "-f", *ids, check=False)
        if self.containers:
            podman("rm", "-f", "-t", "5", *self.containers, check=False)
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            for name in self.databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            import redis

            redis.Redis.from_url(f"{REDIS_SERVER}/{self.redis_db}").flushdb()


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def adhoc_latency(topology: Topology, jobs: int = ADHOC_JOBS) -> dict[str, Any]:
    """Seconds from `POST /api/generate-media` to `completed` (its stored output answering),
    flux-schnell images one after another with the sandbox's model time at 0, each reaching
    a replica in turn."""
    sandbox = f"http://127.0.0.1:{topology.ports['sandbox']}/sandbox/knobs"
    auth = {"Authorization": f"Bearer {topology.env['VSL_SANDBOX_TOKEN']}"}
    writer = {"x-api-key": topology.env["VSL_API_KEY"]}
    body = {
        "userId": "topology",
        "mediaType": "image",
        "modelId": "flux-schnell",
        "parameters": {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9"},
    }
    httpx.post(sandbox, json={"latency_s": 0}, headers=auth, timeout=10).raise_for_status()
    seconds = []
    try:
        for n in range(jobs + 1):  # the first warms every process up, not counted
            replica = ("svc1", "svc2")[n % 2]
            started = time.monotonic()
            job = topology.api("POST", "/generate-media", replica, json=body, headers=writer)
            deadline = started + 120
            while True:
                document = topology.api("GET", f"/status/{job['jobId']}", replica, headers=writer)
                if document["status"] in ("completed", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise TopologyError(f"ad-hoc job {job['jobId']} not completed in 120 s")
                time.sleep(POLL_S)
            done = time.monotonic() - started
            if document["status"] != "completed":
                raise TopologyError(f"ad-hoc job {job['jobId']} {document['status']}")
            if httpx.get(document["result"]["originalUrl"], timeout=10).status_code != 200:
                raise TopologyError(f"ad-hoc job {job['jobId']}: its output does not answer")
            if n:
                seconds.append(done)
    finally:
        httpx.post(sandbox, json={"latency_s": 0.3}, headers=auth, timeout=10)
    ordered = sorted(seconds)
    return {
        "jobs": len(ordered),
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))], 3),
        "max": round(ordered[-1], 3),
    }


def run_flow(topology: Topology, timeout_s: float) -> dict[str, Any]:
    started = time.monotonic()
    script = topology.api(
        "POST",
        "/scripts",
        content=SAMPLE_SCRIPT.read_bytes(),
        headers={"content-type": "application/yaml"},
    )
    script_id = script["script_id"]
    # The scripts sensor registers it and starts its generation at once.
    say(f"script {script_id} stored over the API")
    killed: str | None = None
    status = ""
    approved: set[tuple[str, Any]] = set()
    replica = "svc1"
    while status != "compiled":
        if time.monotonic() - started > timeout_s:
            raise TopologyError(f"the flow did not finish in {timeout_s:.0f} s (status {status!r})")
        time.sleep(1)
        if killed is None:
            killed = topology.kill_first_started(KILLED_JOB)
        # Reviewers reach either replica.
        replica = "svc2" if replica == "svc1" else "svc1"
        status = topology.api("GET", f"/scripts/{script_id}", replica)["status"]
        if status == "failed":
            raise TopologyError(f"script {script_id} failed")
        for item in topology.api("GET", f"/review?script={script_id}", replica):
            # A voiced section's clip and narration are decided apart.
            key = (item["section"], item["subject"], item["take"])
            if key not in approved:
                topology.api(
                    "POST",
                    f"/scripts/{script_id}/sections/{item['section']}/approve",
                    replica,
                    json={"note": "topology", "subject": item["subject"]},
                )
                approved.add(key)
                say(
                    f"approved {item['section']} {item['subject']} take {item['take']} via {replica}"
                )
    elapsed = time.monotonic() - started
    shown = topology.api("GET", f"/scripts/{script_id}")
    return {"script": shown, "killed": killed, "elapsed": elapsed}


def verify(topology: Topology, flow: dict[str, Any]) -> dict[str, Any]:
    from vsl_pipelines.media.probe import probe_media

    # Runs still reporting (the compile run's checks) finish before they are counted.
    wait_for(
        "every run to end",
        lambda: all(
            r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in topology.dagster_runs()
        ),
        120,
    )
    runs = topology.dagster_runs()
    containers = topology.run_containers()
    by_run = {c["Labels"]["dagster/run_id"] for c in containers}
    compilation = flow["script"].get("compilation") or {}
    output = compilation.get("output_uri") or ""
    bucket, _, key = output.removeprefix("s3://").partition("/")
    local = topology.work / "final.mp4"
    topology.aws("s3").download_file(bucket, key, str(local))
    video = probe_media(local)
    killed = flow["killed"]
    retried = [r for r in runs if r["tags"].get("dagster/parent_run_id") == killed]
    problems = []
    if topology.webserver_runs() != {r["run_id"] for r in runs}:
        problems.append("the webserver's GraphQL API does not list the runs of the database")
    if len(runs) < 4:
        problems.append(f"only {len(runs)} runs")
    if by_run != {r["run_id"] for r in runs} or len(containers) != len(runs):
        problems.append(f"{len(runs)} runs but containers for {len(by_run)} ({len(containers)})")
    failed = [r for r in runs if r["status"] != "SUCCESS" and r["run_id"] != killed]
    if failed:
        problems.append(f"runs not successful: {[(r['job'], r['status']) for r in failed]}")
    if killed is None:
        problems.append(f"no {KILLED_JOB} run was seen started to kill")
    elif not retried or retried[0]["status"] != "SUCCESS":
        problems.append(f"the killed run {killed} was not retried to success")
    detected = topology.failure_reason(killed) if killed else ""
    if killed and not detected:
        problems.append(f"no run-monitoring finding recorded for the killed run {killed}")
    if video.duration_s <= 0 or not output.startswith("s3://"):
        problems.append(f"bad output {output} ({video.duration_s} s)")
    # The voices reached the video: an audio track, and sections as long as their voices.
    shown = topology.api("GET", f"/compilations/{compilation.get('id')}")
    voiced = [
        {"voice_s": t["voice_s"], "section_s": round(t["section_s"], 3), "action": t["action"]}
        for t in shown.get("sections") or []
    ]
    if not video.has_audio or len(voiced) != 3 or None in [t["voice_s"] for t in voiced]:
        problems.append(f"the video does not carry the three sections' voices: {voiced}")
    # One cut per hook variant, each in three renditions, each rendition with its HLS ladder
    # and poster, each cut with its caption and chapter tracks, in S3.
    final = key.rsplit("/", 1)[0] + "/"  # scripts/{id}/final/
    listed = topology.aws("s3").list_objects_v2(Bucket=bucket, Prefix=final)
    names = sorted(item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", []))
    finals = [n for n in names if n.endswith(("-16x9.mp4", "-9x16.mp4", "-1x1.mp4"))]
    masters = [n for n in names if n == "master.m3u8"]
    posters = [
        n for n in names if n.endswith(("-16x9-poster.jpg", "-9x16-poster.jpg", "-1x1-poster.jpg"))
    ]
    per_cut = ("-chapters.vtt", "-captions.vtt", "-captions.srt")
    if len(finals) != FINAL_VIDEOS or len(masters) != FINAL_VIDEOS or len(posters) != FINAL_VIDEOS:
        problems.append(
            f"not six final videos, each with its HLS master and poster, in S3: {names}"
        )
    for ending in per_cut:
        if sum(n.endswith(ending) for n in names) != 2:
            problems.append(f"not one {ending} per cut: {names}")
    deciders = {s.get("decided_by") for s in flow["script"].get("sections", [])}
    if deciders != {"flow"}:
        problems.append(f"the decisions are not recorded as the acme key's: {deciders}")
    leaked = topology.leaked_secrets()
    if leaked:
        problems.append(f"secrets in logs or Dagster's storage: {leaked}")
    webhooks = {r: topology.replica_webhooks(r) for r in ("svc1", "svc2")}
    if min(webhooks.values()) == 0:
        problems.append(f"webhooks did not reach both replicas: {webhooks}")
    return {
        "storage": "postgres",
        "runs": len(runs),
        "containers": len(containers),
        "output": output,
        "duration_s": round(flow["elapsed"], 1),
        "video_duration_s": round(video.duration_s, 3),
        "sections": voiced,
        "final_videos": finals,
        "jobs": sorted({r["job"] for r in runs}),
        "killed_run": killed,
        "retried_as": retried[0]["run_id"] if retried else None,
        "killed_run_detected": detected,
        "webhooks_per_replica": webhooks,
        "secrets_in_logs_or_runs": leaked,
        "ok": not problems,
        "problems": problems,
    }


def new_workdir() -> Path:
    base = ROOT / "build" / "topology"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=base))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the flow")
    parser.add_argument("--keep-logs", action="store_true", help="keep build/topology/run-*")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    result: dict[str, Any] = {}
    work = new_workdir()
    topology = Topology(work)
    try:
        say(f"starting the topology {topology.id} (logs in {work})")
        topology.start()
        say(f"up in {time.monotonic() - started:.1f} s")
        result = verify(topology, run_flow(topology, args.timeout))
        # At rest, as an integrator finds it (the flow's runs ended; the processes warm).
        adhoc = adhoc_latency(topology)
        say(f"ad-hoc images: median {adhoc['median']} s to completed")
        result["adhoc_post_to_completed_s"] = adhoc
    except TopologyError as exc:
        result = {"ok": False, "problems": [str(exc)]}
    finally:
        topology.close()
    if result.get("ok") and not args.keep_logs:
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"logs kept in {work}")
    result["total_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
