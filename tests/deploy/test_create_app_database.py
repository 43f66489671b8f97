"""The webhook task's `create-app-database` container, run as ECS runs it (`python -c <script>`)
against the test PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.database import SERVER_URL, _drop

SCRIPT = Path(__file__).parents[2] / "deploy" / "aws" / "create_app_database.py"


@pytest.fixture
def missing_database() -> Iterator[str]:
    name = f"vsl_t_{uuid.uuid4().hex[:12]}"
    yield name
    _drop(name)


def _run(database: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DAGSTER_PG_URL": f"{SERVER_URL}/postgres",
        "DATABASE_URL": f"{SERVER_URL}/{database}",
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_creates_the_app_database_once(missing_database: str) -> None:
    assert f"created database {missing_database}" in _run(missing_database).stdout
    assert _run(missing_database).stdout == ""  # already there: nothing to do
    with psycopg.connect(f"{SERVER_URL}/{missing_database}") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (missing_database,)
