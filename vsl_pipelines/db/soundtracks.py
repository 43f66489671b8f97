"""A script's soundtrack take: 1 until an edit changes a soundtrack already asked for, then the
next (`soundtrack_takes`, migration 0017)."""

from __future__ import annotations

from vsl_pipelines.db.connection import Conn

# The soundtrack's jobs and takes carry no section: this is their `section_id`.
SOUNDTRACK_SECTION = ""


def soundtrack_take(conn: Conn, script_id: str) -> int:
    row = conn.execute(
        "SELECT take FROM soundtrack_takes WHERE script_id = %s", (script_id,)
    ).fetchone()
    return int(row["take"]) if row else 1


def start_new_soundtrack_take(conn: Conn, script_id: str) -> int:
    """Move the script's soundtrack to its next take; the new take's number."""
    row = conn.execute(
        "INSERT INTO soundtrack_takes (script_id, take) VALUES (%s, 2)"
        " ON CONFLICT (script_id) DO UPDATE"
        " SET take = soundtrack_takes.take + 1, updated_at = now() RETURNING take",
        (script_id,),
    ).fetchone()
    assert row is not None
    return int(row["take"])
