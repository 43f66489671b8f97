"""Run by the webhook task's `create-app-database` container before `vsl serve` starts: creates the
app database (the last path segment of DATABASE_URL) on the RDS instance if it is missing.

RDS creates only the Dagster database; this connects to it (DAGSTER_PG_URL, the master user) to
create the other. Idempotent, and safe when several tasks start together.
"""

import os

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

name = conninfo_to_dict(os.environ["DATABASE_URL"])["dbname"]
with psycopg.connect(os.environ["DAGSTER_PG_URL"], autocommit=True) as conn:
    found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if found is None:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
        except (errors.DuplicateDatabase, errors.UniqueViolation):
            pass  # another task created it first
