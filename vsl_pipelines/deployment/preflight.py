"""Checks a deployed process runs before it starts, each failure one line naming the setting.

A production process that starts without its database, bucket or cache fails later, in the
middle of a run or a webhook, with an error far from its cause. These checks run first and
stop the process with `SETTING: what is wrong`. Nothing they print carries a secret: URLs are
shown as scheme, host, port and path only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

CONNECT_TIMEOUT_S = 5


class PreflightError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


def where(url: str) -> str:
    """`scheme://host:port/path` of a URL: never its user, password or query."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise PreflightError(name, "is not set")
    return value


def env_names(document: Any) -> Iterator[str]:
    """Every `{env: NAME}` a Dagster instance or workspace file reads."""
    if isinstance(document, dict):
        if set(document) == {"env"} and isinstance(document["env"], str):
            yield document["env"]
            return
        for value in document.values():
            yield from env_names(value)
    elif isinstance(document, list):
        for value in document:
            yield from env_names(value)


def check_dagster_file(env: Mapping[str, str], path: Path, setting: str) -> None:
    """The file exists, parses, and every variable it reads is set."""
    if not path.is_file():
        raise PreflightError(setting, f"no file at {path}")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PreflightError(setting, f"{path} is not valid YAML: {_one_line(exc)}") from None
    for name in env_names(document):
        require(env, name)


def check_postgres(env: Mapping[str, str], name: str) -> None:
    import psycopg

    url = require(env, name)
    try:
        # A connection is the check: the server answers, takes the credentials and has the
        # database.
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True).close()
    except psycopg.ProgrammingError:
        raise PreflightError(name, "is not a PostgreSQL URL") from None
    except psycopg.Error as exc:
        raise PreflightError(name, f"cannot connect to {where(url)}: {_one_line(exc)}") from None


def check_redis(env: Mapping[str, str], name: str = "REDIS_URL") -> None:
    import redis

    url = require(env, name)
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
        )
    except ValueError:
        raise PreflightError(name, "is not a Redis URL (redis://, rediss://)") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise PreflightError(name, f"cannot reach {where(url)}: {_one_line(exc)}") from None
    finally:
        client.close()


def check_bucket(env: Mapping[str, str], name: str = "VSL_S3_BUCKET") -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = require(env, name)
    client = boto3.client(
        "s3",
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        region_name=env.get("AWS_REGION") or None,
        config=Config(connect_timeout=CONNECT_TIMEOUT_S, retries={"max_attempts": 1}),
    )
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        problem = {
            "404": "no such bucket",
            "NoSuchBucket": "no such bucket",
            "403": "access denied",
        }.get(code, code)
        raise PreflightError(name, f"bucket {bucket!r}: {problem}") from None
    except BotoCoreError as exc:
        raise PreflightError(name, f"bucket {bucket!r}: {_one_line(exc)}") from None


@dataclass(frozen=True)
class Role:
    """One way to run the image: the command it becomes and what it needs first."""

    name: str
    command: tuple[str, ...]
    checks: tuple[Callable[[Mapping[str, str]], None], ...]
    doc: str


def _dagster_home(env: Mapping[str, str]) -> None:
    home = Path(require(env, "DAGSTER_HOME"))
    check_dagster_file(env, home / "dagster.yaml", "DAGSTER_HOME")


def _run_environment(env: Mapping[str, str]) -> None:
    """Every variable the run launcher passes to runs by name is set (empty where unused):
    Dagster's Docker launcher fails each launch otherwise."""
    path = Path(require(env, "DAGSTER_HOME")) / "dagster.yaml"
    launcher = (yaml.safe_load(path.read_text()) or {}).get("run_launcher") or {}
    for entry in (launcher.get("config") or {}).get("env_vars") or []:
        name = str(entry).split("=", 1)[0]
        if "=" not in str(entry) and name not in env:
            raise PreflightError(
                name,
                "is not set (the run launcher passes it to every run: set it, empty if unused)",
            )


def _workspace(env: Mapping[str, str]) -> None:
    check_dagster_file(env, Path(workspace_file(env)), "VSL_WORKSPACE")


def _dagster_database(env: Mapping[str, str]) -> None:
    check_postgres(env, "DAGSTER_PG_URL")


def _app_database(env: Mapping[str, str]) -> None:
    check_postgres(env, "DATABASE_URL")


def _replicate(env: Mapping[str, str]) -> None:
    require(env, "REPLICATE_API_TOKEN")


def _webhook_secret(env: Mapping[str, str]) -> None:
    from vsl_pipelines.web.signatures import decode_webhook_secret

    try:
        decode_webhook_secret(require(env, "REPLICATE_WEBHOOK_SECRET"))
    except ValueError as exc:
        raise PreflightError("REPLICATE_WEBHOOK_SECRET", str(exc)) from None


def workspace_file(env: Mapping[str, str]) -> str:
    """`VSL_WORKSPACE`, or the project's file under the working directory (the image's
    WORKDIR holds the project's `deploy/`)."""
    return env.get("VSL_WORKSPACE") or "deploy/dagster/workspace.yaml"


# The app's own needs, shared by every role that runs project code.
_APP = (_app_database, check_redis, check_bucket)

ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            "webserver",
            ("dagster-webserver", "-h", "0.0.0.0", "-p", "{webserver_port}", "-w", "{workspace}"),
            (_dagster_home, _workspace, _dagster_database),
            "the Dagster UI on port 3000",
        ),
        Role(
            "daemon",
            # `dagster-daemon run` with its sensor loop at VSL_SENSOR_LOOP seconds.
            ("python", "-m", "vsl_pipelines.defs.daemon", "run", "-w", "{workspace}"),
            (_dagster_home, _run_environment, _workspace, _dagster_database),
            "sensors, schedules, the run queue and run monitoring (exactly one)",
        ),
        Role(
            "code-server",
            (
                "dagster",
                "code-server",
                "start",
                "-m",
                "vsl_pipelines.definitions",
                "-h",
                "0.0.0.0",
                "-p",
                "{code_server_port}",
            ),
            (_dagster_home, _dagster_database, *_APP, _replicate),
            "the project's definitions over gRPC on port 4000",
        ),
        Role(
            "service",
            ("vsl", "serve", "--host", "0.0.0.0"),
            (*_APP, _webhook_secret),
            "webhooks, the API, media and the review page on port 8080",
        ),
    )
}


def check_role(role: Role, env: Mapping[str, str] | None = None) -> None:
    """Run the role's checks in order; the first failure raises `PreflightError`."""
    environment = os.environ if env is None else env
    for check in role.checks:
        check(environment)


def command_for(
    role: Role, extra: tuple[str, ...], env: Mapping[str, str] | None = None
) -> list[str]:
    """The role's command line: the workspace file and ports from the environment."""
    environment = os.environ if env is None else env
    values = {
        "workspace": workspace_file(environment),
        "webserver_port": environment.get("DAGSTER_WEBSERVER_PORT") or "3000",
        "code_server_port": environment.get("DAGSTER_CODE_SERVER_PORT") or "4000",
    }
    return [part.format(**values) for part in role.command] + list(extra)
