"""What a run's process and the daemon start with: no web stack and no client it is not
configured for (dagster-aws without a bucket, redis, boto3, PyAV, replicate), the sensor loop
at the pace `VSL_SENSOR_LOOP` asks for, and runs started from the code server's forkserver."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import dagster._daemon.sensor as sensor_daemon

from vsl_pipelines.defs.daemon import LOOP_CONSTANT, set_sensor_loop
from vsl_pipelines.settings import PROJECT_ROOT

# What a run's process must not load unless its run needs it: the web stack never, and the
# clients of Redis, AWS, Replicate, PyAV and Prometheus only where they are called.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "PIL",
    "av",
    "boto3",
    "botocore",
    "dagster_aws",
    "redis",
    "replicate",
    "httpx",
    "prometheus_client",
)


def _heavy_imports(extra_env: dict[str, str]) -> set[str]:
    """The `HEAVY` packages loaded by importing the code location (by `sys.modules` in a fresh
    process, never by the clock)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VSL_S3_BUCKET", "REDIS_URL", "VSL_DYNAMODB_TABLE", "VSL_DYNAMODB_JOBS_TABLE")
    } | extra_env
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vsl_pipelines.definitions; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(out.stdout.strip().splitlines()[-1].split()) if out.stdout.strip() else set()


def test_code_location_loads_no_client_it_is_not_configured_for(tmp_path) -> None:
    base = {"DATABASE_URL": "postgresql://127.0.0.1:1/none", "VSL_DATA_DIR": str(tmp_path)}
    assert _heavy_imports(base) == set()
    assert "dagster_aws" in _heavy_imports({**base, "VSL_S3_BUCKET": "media"})


def test_sensor_loop_is_set_where_the_daemon_loop_reads_it() -> None:
    original = getattr(sensor_daemon, LOOP_CONSTANT)
    try:
        assert set_sensor_loop(1.0)
        assert getattr(sensor_daemon, LOOP_CONSTANT) == 1.0
        # The loop reads the module global at every pass (not a default bound at import).
        source = inspect.getsource(sensor_daemon.execute_sensor_iteration_loop)
        assert f"{LOOP_CONSTANT} - loop_duration" in source
    finally:
        setattr(sensor_daemon, LOOP_CONSTANT, original)


def test_runs_start_from_the_servers_context_that_the_code_server_replaces() -> None:
    import dagster._grpc.server as grpc_server

    from vsl_pipelines.defs.code_server import CONTEXT_ATTRIBUTE, use_forkserver

    server = grpc_server.DagsterApiServer
    original = server.__init__
    try:
        assert use_forkserver()
        assert server.__init__ is not original
        # The context is chosen in the constructor, and every run's process comes from it.
        assert f"self.{CONTEXT_ATTRIBUTE} = multiprocessing.get_context(" in inspect.getsource(
            original
        )
        start_run = inspect.getsource(server.StartRun)
        assert f"self.{CONTEXT_ATTRIBUTE}.Process(" in start_run
        assert f"self.{CONTEXT_ATTRIBUTE}.Queue()" in start_run
    finally:
        server.__init__ = original  # type: ignore[method-assign]
