import psycopg

from tests.fixtures.database import SERVER_URL
from vsl_pipelines.db.connection import close_pool
from vsl_pipelines.db.migrations import apply_migrations


def test_migrations_apply_once_and_create_every_table(database_url: str) -> None:
    assert apply_migrations(database_url) == []
    with psycopg.connect(database_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
    assert {
        "scripts",
        "sections",
        "jobs",
        "takes",
        "approvals",
        "compilations",
        "webhook_inbox",
        "schema_migrations",
    } <= tables


def test_fresh_database_gets_all_migrations() -> None:
    name = "vsl_mig_fresh_check"
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        assert apply_migrations(f"{SERVER_URL}/{name}") == [
            "0001_initial",
            "0002_script_checked_at",
            "0003_script_failure",
        ]
    finally:
        close_pool(f"{SERVER_URL}/{name}")
        with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
