"""What a run's process and the daemon start with: no dagster-aws without a bucket, and the
sensor loop at the pace `VSL_SENSOR_LOOP` asks for."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import dagster._daemon.sensor as sensor_daemon

from vsl_pipelines.defs.daemon import LOOP_CONSTANT, set_sensor_loop
from vsl_pipelines.settings import PROJECT_ROOT


def _imports_dagster_aws(extra_env: dict[str, str]) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "VSL_S3_BUCKET"} | extra_env
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vsl_pipelines.definitions; print('dagster_aws' in sys.modules)",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1] == "True"


def test_code_location_loads_without_dagster_aws_unless_a_bucket_is_set(tmp_path) -> None:
    base = {"DATABASE_URL": "postgresql://127.0.0.1:1/none", "VSL_DATA_DIR": str(tmp_path)}
    assert not _imports_dagster_aws(base)
    assert _imports_dagster_aws({**base, "VSL_S3_BUCKET": "media"})


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
