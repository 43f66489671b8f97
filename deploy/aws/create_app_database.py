"""The one-off set-up task (`vsl-<stage>-setup`, run by the stack at each deploy that changes it):
the only container that gets the RDS master user. It creates the two database users and their
databases, so no other task needs the master:

- `APP_DB_ROLE` (vsl_app) owns `APP_DB_NAME` (vsl_app): the service, sensors and runs;
- `DAGSTER_DB_ROLE` (vsl_dagster) owns `DAGSTER_DB_NAME` (dagster): Dagster's storage.

Each user's password is its own rotating secret's (alternating users: the rotation adds a
`<role>_clone` member of the role, sessions `SET ROLE` to the base role, so both see the same
objects). Neither user may connect to the other's database. Objects the master made before the
users existed (an older deployment) are handed to the owner. Idempotent; safe when repeated.

Run as `python -c <this file>` with DATABASE_HOST/PORT/SSLMODE/SSLROOTCERT, MASTER_USER,
MASTER_PASSWORD and, per database, <KIND>_DB_NAME, <KIND>_DB_ROLE, <KIND>_DB_USER,
<KIND>_DB_PASSWORD (KIND: APP, DAGSTER).
"""

import os

import psycopg
from psycopg import sql


def connect(database: str) -> psycopg.Connection:
    return psycopg.connect(
        host=os.environ["DATABASE_HOST"],
        port=os.environ.get("DATABASE_PORT") or "5432",
        dbname=database,
        user=os.environ["MASTER_USER"],
        password=os.environ.get("MASTER_PASSWORD", ""),
        sslmode=os.environ.get("DATABASE_SSLMODE") or "prefer",
        sslrootcert=os.environ.get("DATABASE_SSLROOTCERT") or None,
        autocommit=True,
    )


def ensure_user(conn: psycopg.Connection, role: str, user: str, password: str) -> None:
    """The base role, created with the secret's password; its password is the rotation's after
    that (only while the secret names the base role itself is it set again, to the same)."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    if exists is None:
        conn.execute(
            sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        print(f"created user {role}")
    elif user == role:
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    # The master may act for the role (RDS's master is no superuser): to hand it objects.
    conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))


def ensure_database(conn: psycopg.Connection, name: str, owner: str) -> None:
    found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if found is None:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(owner)
                )
            )
            print(f"created database {name}")
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another set-up created it first
    conn.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner))
    )
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
    conn.execute(
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(name), sql.Identifier(owner)
        )
    )


# What the master owns in the public schema: tables, views, sequences no table owns, types that
# are no table's row type.
_MASTER_OWNED = """
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
         WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND NOT (c.relkind = 'S' AND EXISTS (
    SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT 'TYPE', t.typname
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = 'public' AND t.typowner = (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER)
  AND t.typtype IN ('e', 'd')
"""


def hand_over(database: str, owner: str) -> None:
    """Inside the database: the public schema and what the master made there go to the owner
    (an older deployment's tables, made when everything ran as the master)."""
    with connect(database) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        for kind, name in conn.execute(_MASTER_OWNED).fetchall():
            conn.execute(
                sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                    sql.SQL(kind), sql.Identifier(name), sql.Identifier(owner)
                )
            )


kinds = ("APP", "DAGSTER")
with connect("postgres") as admin:
    for kind in kinds:
        ensure_user(
            admin,
            os.environ[f"{kind}_DB_ROLE"],
            os.environ[f"{kind}_DB_USER"],
            os.environ[f"{kind}_DB_PASSWORD"],
        )
    for kind in kinds:
        ensure_database(admin, os.environ[f"{kind}_DB_NAME"], os.environ[f"{kind}_DB_ROLE"])
for kind in kinds:
    hand_over(os.environ[f"{kind}_DB_NAME"], os.environ[f"{kind}_DB_ROLE"])
