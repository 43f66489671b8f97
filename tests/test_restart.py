"""Restart safety: the webhook service and the Dagster daemon stop mid-flow and start again.

The real `dagster-daemon` runs the sensors and launches runs in subprocesses; the flow must
still finish with one prediction per job and every completed webhook in the inbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.fixtures.daemon import BIN, Daemon
from tests.fixtures.sandbox import SANDBOX_TOKEN
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.services.review import decide, review_queue
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.server import RunningService, start_service_in_thread


def _status(db: Database, script_id: str = "spring-launch") -> str:
    with db.connect() as conn:
        row = conn.execute("SELECT status FROM scripts WHERE id = %s", (script_id,)).fetchone()
    assert row is not None
    return str(row["status"])


# Every wait of the test draws on one budget, kept below the test's own timeout so a slow
# machine fails with the daemon's log rather than with pytest's timeout.
BUDGET_S = 480.0


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def wait(self, check: Callable[[], bool], what: str, logs: Path) -> None:
        _wait(check, self.deadline - time.monotonic(), what, logs)


def _wait(check: Callable[[], bool], timeout_s: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            tail = (
                (logs / "daemon.log").read_text()[-4000:] if (logs / "daemon.log").exists() else ""
            )
            raise TimeoutError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.5)


@pytest.fixture
def restart_env(
    db: Database,
    stored_script: Script,
    sandbox_factory: Callable[..., RunningSandbox],
    tmp_path: Path,
) -> Iterator[tuple[dict[str, str], RunningSandbox, Callable[[], RunningService], Path]]:
    # Webhooks retried for ~40 s, so a short service outage loses none.
    sandbox = sandbox_factory(
        latency_s=1.0, webhook_base_delay_s=0.3, webhook_max_delay_s=3.0, webhook_attempts=20
    )
    media_root = tmp_path / "media"
    media_root.mkdir()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    inbox = PostgresInbox(db)
    first = start_service_in_thread(create_app(inbox, sandbox.secret, media_root))
    port = int(first.url.rsplit(":", 1)[1])
    services = [first]

    def restart_service() -> RunningService:
        """Stop the running service, keep it down for 3 s (webhooks fail), start it again."""
        services[-1].stop()
        time.sleep(3)
        app = create_app(inbox, sandbox.secret, media_root)
        services.append(start_service_in_thread(app, port=port))
        return services[-1]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSL_", "REPLICATE_"))}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DATABASE_URL": db.url,
            "VSL_MEDIA_ROOT": str(media_root),
            "VSL_MEDIA_URL": f"{first.url}/media",
            "VSL_WEBHOOK_URL": f"{first.url}/webhooks/replicate",
            "REPLICATE_BASE_URL": sandbox.base_url,
            "VSL_WEBHOOK_SENSOR_INTERVAL": "1",
            "VSL_APPROVAL_SENSOR_INTERVAL": "1",
            "VSL_COMPILE_SENSOR_INTERVAL": "1",
            "VSL_SCRIPTS_SENSOR_INTERVAL": "1",
            "VSL_LATE_WEBHOOK_S": "3600",  # webhooks only: a lost one would not be papered over
            "VSL_SANDBOX_TOKEN": SANDBOX_TOKEN,
            "VSL_STALE_RUN_S": "20",  # a run killed with the daemon is requested again after 20 s
            "VSL_GENERATION_SCHEDULE": "0 0 1 1 *",
        }
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("scripts", ["spring-launch"])
    yield env, sandbox, restart_service, tmp_path
    for service in services:
        service.stop()
    inbox.close()


@pytest.mark.timeout(BUDGET_S + 60)
def test_flow_survives_service_and_daemon_restarts(db: Database, restart_env) -> None:
    env, sandbox, restart_service, tmp_path = restart_env
    budget = Budget(BUDGET_S)
    daemon = Daemon(env, tmp_path / "daemon.log")
    daemon.start()
    try:
        subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "launch",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
                "-j",
                "generate",
                "--tags",
                json.dumps({"dagster/partition": "spring-launch"}),
            ],
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )

        def predictions_created() -> bool:
            with db.connect() as conn:
                return conn.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] >= 4

        # The webhook service goes away while the first predictions finish (2 s each):
        # their completed webhooks fail and are retried by the sender.
        budget.wait(predictions_created, "the first predictions", tmp_path)
        restart_service()

        def collecting_run_in_flight() -> bool:
            with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as inst:
                records = inst.get_run_records(
                    filters=dg.RunsFilter(
                        job_name="collect_keyframes",
                        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
                    )
                )
            return bool(records)

        budget.wait(collecting_run_in_flight, "a collecting run in flight", tmp_path)

        # Then the daemon dies hard, with the collecting run it launched.
        daemon.kill()
        daemon.start()

        budget.wait(lambda: _status(db) == "review", "review", tmp_path)
        with db.connect() as conn:
            for item in review_queue(conn, "spring-launch"):
                decide(conn, "spring-launch", item["section"], "approved")
            conn.commit()
        budget.wait(lambda: _status(db) == "compiled", "compiled", tmp_path)
    finally:
        daemon.kill()

    with db.connect() as conn:
        jobs = conn.execute("SELECT prediction_id, status FROM jobs").fetchall()
        inbox_ids = {
            r["prediction_id"]
            for r in conn.execute(
                "SELECT prediction_id FROM webhook_inbox WHERE status = 'succeeded'"
            ).fetchall()
        }
    job_ids = {j["prediction_id"] for j in jobs}
    assert len(jobs) == 6 and len(job_ids) == 6, "one prediction per job, none duplicated"
    assert len(sandbox.engine.store.all()) == 6, "the sandbox saw exactly one create per job"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        collects = instance.get_runs(filters=dg.RunsFilter(job_name="collect_keyframes"))
    statuses = sorted(str(run.status.value) for run in collects)
    # The killed run never succeeds: it stays as it died, or run monitoring (which checks
    # runs every 10 s) has marked it failed by now.
    assert {"STARTING", "STARTED", "FAILURE"} & set(statuses), statuses
    assert any(
        run.tags.get("dagster/run_key", "").endswith(":1") and run.status.value == "SUCCESS"
        for run in collects
    ), "the sensor requested the killed collection again under a new run key"
    assert job_ids <= inbox_ids, "every completed webhook reached the inbox"
    assert sandbox.engine.webhooks.failed_attempts > 0, (
        "the outage should have made at least one delivery fail and be retried"
    )
