"""The set-up task (`vsl-<stage>-setup`), run as ECS runs it (`python -c <script>`) against the
test PostgreSQL server: one user per database, each owning its own and unable to reach the other's,
and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.fixtures.database import SERVER_URL, _admin, _drop

SCRIPT = Path(__file__).parents[2] / "deploy" / "aws" / "create_app_database.py"


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:10]
    found = {
        "APP_DB_NAME": f"vsl_t_app_{suffix}",
        "APP_DB_ROLE": f"vsl_t_app_{suffix}",
        "DAGSTER_DB_NAME": f"vsl_t_dg_{suffix}",
        "DAGSTER_DB_ROLE": f"vsl_t_dg_{suffix}",
    }
    yield found
    for database in (found["APP_DB_NAME"], found["DAGSTER_DB_NAME"]):
        _drop(database)
    with _admin() as conn:
        for role in (found["APP_DB_ROLE"], found["DAGSTER_DB_ROLE"]):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _run(names: dict[str, str]) -> subprocess.CompletedProcess[str]:
    server = urlsplit(SERVER_URL)
    env = {
        **os.environ,
        "DATABASE_HOST": server.hostname or "127.0.0.1",
        "DATABASE_PORT": str(server.port or 5432),
        "MASTER_USER": server.username or "postgres",
        "MASTER_PASSWORD": server.password or "",
        **names,
        "APP_DB_USER": names["APP_DB_ROLE"],
        "APP_DB_PASSWORD": "app-secret-1",
        "DAGSTER_DB_USER": names["DAGSTER_DB_ROLE"],
        "DAGSTER_DB_PASSWORD": "dagster-secret-1",
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _connect(names: dict[str, str], kind: str, database_kind: str) -> psycopg.Connection:
    server = urlsplit(SERVER_URL)
    return psycopg.connect(
        host=server.hostname or "127.0.0.1",
        port=server.port or 5432,
        user=names[f"{kind}_DB_ROLE"],
        password={"APP": "app-secret-1", "DAGSTER": "dagster-secret-1"}[kind],
        dbname=names[f"{database_kind}_DB_NAME"],
    )


def test_creates_each_user_and_database_once(names: dict[str, str]) -> None:
    first = _run(names).stdout
    for kind in ("APP", "DAGSTER"):
        assert f"created user {names[f'{kind}_DB_ROLE']}" in first
        assert f"created database {names[f'{kind}_DB_NAME']}" in first
    assert _run(names).stdout == ""  # already there: nothing to do
    for kind in ("APP", "DAGSTER"):
        with _connect(names, kind, kind) as conn:
            conn.execute("CREATE TABLE t (id int)")  # the owner may make its tables
            assert conn.execute("SELECT current_user").fetchone() == (names[f"{kind}_DB_ROLE"],)


def test_neither_user_reaches_the_other_database(names: dict[str, str]) -> None:
    _run(names)
    for kind, other in (("APP", "DAGSTER"), ("DAGSTER", "APP")):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect(names, kind, other).close()


def test_hands_the_masters_old_tables_to_the_owner(names: dict[str, str]) -> None:
    """An older deployment made everything as the master: its tables go to the new user."""
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{names["APP_DB_NAME"]}"')
    server = urlsplit(SERVER_URL)
    with psycopg.connect(f"{SERVER_URL}/{names['APP_DB_NAME']}", autocommit=True) as conn:
        conn.execute("CREATE TABLE scripts (id serial PRIMARY KEY)")
    _run(names)
    with _connect(names, "APP", "APP") as conn:
        conn.execute("INSERT INTO scripts DEFAULT VALUES")
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'scripts'"
        ).fetchone()
        assert owner == (names["APP_DB_ROLE"],)
    assert server.hostname
