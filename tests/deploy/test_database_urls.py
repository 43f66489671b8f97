"""Connection URLs built at a container's start from separate secret fields
(vsl_pipelines/deployment/database_urls.py): what ECS gives, what the code then reads."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from tests.fixtures.database import SERVER_URL
from vsl_pipelines.deployment.database_urls import fill_urls, postgres_url, redis_url

FIELDS = {
    "DATABASE_HOST": "db.example.internal",
    "DATABASE_PORT": "5432",
    "DATABASE_NAME": "vsl_app",
    "DATABASE_USER": "vsl_app_clone",
    "DATABASE_PASSWORD": "p@ss/w:rd",
    "DATABASE_SSLMODE": "verify-full",
    "DATABASE_SSLROOTCERT": "/opt/dagster/app/certs/rds-global-bundle.pem",
    "DATABASE_ROLE": "vsl_app",
}


def test_a_url_from_the_fields_with_tls_and_the_base_role() -> None:
    url = postgres_url(FIELDS, "DATABASE")
    assert url == (
        "postgresql://vsl_app_clone:p%40ss%2Fw%3Ard@db.example.internal:5432/vsl_app"
        "?sslmode=verify-full&sslrootcert=%2Fopt%2Fdagster%2Fapp%2Fcerts%2Frds-global-bundle.pem"
        "&options=-c%20role%3Dvsl_app"
    )
    parsed = psycopg.conninfo.conninfo_to_dict(url)
    assert parsed["password"] == "p@ss/w:rd"
    assert parsed["options"] == "-c role=vsl_app" and parsed["sslmode"] == "verify-full"
    assert postgres_url({"DATABASE_HOST": "h"}, "DATABASE") is None  # no user, no name


def test_a_set_url_is_kept_and_redis_gets_its_token() -> None:
    env = {**FIELDS, "DATABASE_URL": "postgresql://given/db", "REDIS_URL": "rediss://r:6379/0"}
    env["REDIS_PASSWORD"] = "tok/en"
    assert fill_urls(env) == ["REDIS_URL"]
    assert env["DATABASE_URL"] == "postgresql://given/db"
    assert env["REDIS_URL"] == "rediss://:tok%2Fen@r:6379/0"
    assert redis_url({"REDIS_URL": "rediss://:own@r:6379/0", "REDIS_PASSWORD": "x"}).endswith(
        ":own@r:6379/0"
    )
    assert redis_url({"REDIS_URL": "redis://r:6379/0"}) == "redis://r:6379/0"


def test_the_entry_point_gives_the_command_its_urls() -> None:
    """As ECS runs it: the entry point, then the command, which reads the URL and connects
    (the base role set at connect)."""
    from urllib.parse import urlsplit

    server = urlsplit(SERVER_URL)
    env = {
        "PATH": "/usr/bin:/bin",
        "DAGSTER_PG_HOST": server.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(server.port or 5432),
        "DAGSTER_PG_NAME": "postgres",
        "DAGSTER_PG_USER": server.username or "postgres",
        "DAGSTER_PG_ROLE": "pg_read_all_data",
    }
    code = (
        "import os, psycopg; "
        "print(psycopg.connect(os.environ['DAGSTER_PG_URL']).execute('SELECT current_user')"
        ".fetchone()[0])"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vsl_pipelines.deployment.database_urls",
            sys.executable,
            "-c",
            code,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.strip() == "pg_read_all_data"
