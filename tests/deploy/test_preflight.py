"""`vsl role` checks a deployed process's settings against the real servers before it starts:
each failure is one line naming the setting, and never shows a password."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.aws import REGION
from vsl_pipelines.deployment.preflight import ROLES, PreflightError, check_role, where

VSL = str(Path(sys.executable).with_name("vsl"))
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "dagster"


@pytest.fixture
def production_env(
    database_url: str, redis_url: str, moto_server: str, s3_bucket: tuple[Any, str]
) -> dict[str, str]:
    """Every setting a role reads, pointing at this machine's real servers."""
    return {
        "DAGSTER_HOME": str(DEPLOY / "docker"),
        "VSL_WORKSPACE": str(DEPLOY / "workspace.yaml"),
        "DAGSTER_PG_URL": database_url,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": "4000",
        "VSL_IMAGE": "localhost/vsl-pipelines:latest",
        "VSL_RUN_NETWORK": "host",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VSL_S3_BUCKET": s3_bucket[1],
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "REPLICATE_API_TOKEN": "r8_preflighttoken",
        "REPLICATE_WEBHOOK_SECRET": "whsec_cHJlZmxpZ2h0",
        # Passed to runs by name by the single-host launcher; empty where unused.
        **dict.fromkeys(
            (
                "VSL_S3_PREFIX",
                "VSL_DYNAMODB_TABLE",
                "VSL_DYNAMODB_JOBS_TABLE",
                "VSL_MEDIA_URL",
                "VSL_WEBHOOK_URL",
                "VSL_LOG_LEVEL",
                "REPLICATE_BASE_URL",
                "AWS_DEFAULT_REGION",
            ),
            "",
        ),
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role_passes_with_its_settings(
    role: str, production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # boto3 reads them itself
        monkeypatch.setenv(name, production_env[name])
    check_role(ROLES[role], production_env)


@pytest.mark.parametrize(
    ("role", "missing"),
    [
        ("daemon", "DAGSTER_PG_URL"),
        ("daemon", "VSL_IMAGE"),  # read by the instance file's run launcher
        ("daemon", "VSL_S3_PREFIX"),  # passed to runs by name
        ("webserver", "DAGSTER_CODE_SERVER_HOST"),  # read by the workspace file
        ("code-server", "REPLICATE_API_TOKEN"),
        ("service", "VSL_S3_BUCKET"),
        ("service", "REDIS_URL"),
        ("service", "REPLICATE_WEBHOOK_SECRET"),
    ],
)
def test_a_missing_setting_is_named(
    role: str, missing: str, production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, production_env[name])
    del production_env[missing]
    with pytest.raises(PreflightError) as caught:
        check_role(ROLES[role], production_env)
    assert caught.value.setting == missing
    assert str(caught.value).startswith(f"{missing}: is not set")


def test_unreachable_redis_is_named_without_its_password(
    production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, production_env[name])
    port = _closed_port()
    production_env["REDIS_URL"] = f"redis://cache:hunter2secret@127.0.0.1:{port}/0"
    with pytest.raises(PreflightError) as caught:
        check_role(ROLES["service"], production_env)
    message = str(caught.value)
    assert message.startswith(f"REDIS_URL: cannot reach redis://127.0.0.1:{port}/0: ")
    assert "hunter2secret" not in message and "\n" not in message


def test_a_wrong_database_is_named_without_its_password(
    production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, production_env[name])
    production_env["DAGSTER_PG_URL"] = (
        "postgresql://postgres:hunter2secret@127.0.0.1:5432/no_such_database_here"
    )
    with pytest.raises(PreflightError) as caught:
        check_role(ROLES["daemon"], production_env)
    message = str(caught.value)
    assert message.startswith(
        "DAGSTER_PG_URL: cannot connect to postgresql://127.0.0.1:5432/no_such_database_here"
    )
    assert "no_such_database_here" in message.split(": ", 2)[2]  # the server's own reason
    assert "hunter2secret" not in message


def test_a_malformed_webhook_secret_is_named(
    production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, production_env[name])
    production_env["REPLICATE_WEBHOOK_SECRET"] = "whsec_not-base64_!"
    with pytest.raises(PreflightError) as caught:
        check_role(ROLES["service"], production_env)
    assert str(caught.value) == (
        "REPLICATE_WEBHOOK_SECRET: webhook secret is not 'whsec_' followed by base64"
    )
    assert "not-base64" not in str(caught.value)


def test_a_missing_bucket_is_named(
    production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, production_env[name])
    production_env["VSL_S3_BUCKET"] = "vsl-no-such-bucket"
    with pytest.raises(
        PreflightError, match=r"^VSL_S3_BUCKET: bucket 'vsl-no-such-bucket': no such bucket$"
    ):
        check_role(ROLES["service"], production_env)


def test_a_missing_instance_file_is_named(production_env: dict[str, str], tmp_path: Path) -> None:
    production_env["DAGSTER_HOME"] = str(tmp_path)
    with pytest.raises(PreflightError, match=r"^DAGSTER_HOME: no file at .*dagster.yaml$"):
        check_role(ROLES["daemon"], production_env)


def test_where_keeps_only_scheme_host_port_and_path() -> None:
    assert where("postgresql://u:p@db.internal:6432/app?sslmode=require") == (
        "postgresql://db.internal:6432/app"
    )
    assert where("rediss://:tok@cache:6380/2") == "rediss://cache:6380/2"


def test_the_command_stops_with_one_line_before_starting(production_env: dict[str, str]) -> None:
    """`vsl role service` with an unreachable Redis: exit 2, one line on stderr, and the
    service never started (nothing listens on its port)."""
    port = _closed_port()
    env = {
        **os.environ,
        **production_env,
        "REDIS_URL": f"redis://:hunter2secret@127.0.0.1:{_closed_port()}/0",
        "VSL_SERVICE_PORT": str(port),
    }
    done = subprocess.run(
        [VSL, "role", "service"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsl role service: REDIS_URL: cannot reach")
    assert "hunter2secret" not in done.stderr + done.stdout
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_check_only_passes_and_exits(production_env: dict[str, str]) -> None:
    done = subprocess.run(
        [VSL, "role", "daemon", "--check-only"],
        env={**os.environ, **production_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "vsl role daemon: settings checked"


def test_role_commands_take_their_ports_and_workspace_from_the_environment() -> None:
    from vsl_pipelines.deployment.preflight import command_for

    env = {"DAGSTER_CODE_SERVER_PORT": "4100", "VSL_WORKSPACE": "/w.yaml"}
    assert command_for(ROLES["code-server"], (), env)[-2:] == ["-p", "4100"]
    assert command_for(ROLES["webserver"], ("--path-prefix", "/ui"), {}) == [
        "dagster-webserver",
        *("-h", "0.0.0.0", "-p", "3000", "-w", "deploy/dagster/workspace.yaml"),
        *("--path-prefix", "/ui"),
    ]
    assert command_for(ROLES["daemon"], (), env) == [
        *("python", "-m", "vsl_pipelines.defs.daemon", "run", "-w", "/w.yaml")
    ]
