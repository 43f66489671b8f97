"""The `compilations` table: every request to compile a script and what became of it.

A row is `requested` (API, or the approval sensor's automatic request), `running` once its run
claims it, then `succeeded` or `failed`; a unique index allows one in flight per script.
"""

from __future__ import annotations

import json
from typing import Any

from vsl_pipelines.db.connection import Conn, returned

IN_FLIGHT = ("requested", "running")


def request_compilation(
    conn: Conn,
    script_id: str,
    *,
    output_format: str,
    quality: str,
    options: dict[str, Any],
    requested_by: str,
    approval_id: int | None = None,
) -> dict[str, Any] | None:
    """The new `requested` row, or None when the script already has one in flight (or this
    approval already made its request)."""
    return conn.execute(
        "INSERT INTO compilations (script_id, status, output_format, quality, options,"
        " requested_by, approval_id) VALUES (%s, 'requested', %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING *",
        (script_id, output_format, quality, json.dumps(options), requested_by, approval_id),
    ).fetchone()


def in_flight(conn: Conn, script_id: str) -> dict[str, Any] | None:
    """The script's compilation requested or running, if any."""
    return conn.execute(
        "SELECT * FROM compilations WHERE script_id = %s AND status IN ('requested', 'running')",
        (script_id,),
    ).fetchone()


def running(conn: Conn, limit: int) -> list[dict[str, Any]]:
    """Compilations a run claimed and has not finished, oldest first."""
    return conn.execute(
        "SELECT * FROM compilations WHERE status = 'running' ORDER BY id LIMIT %s", (limit,)
    ).fetchall()


def requested(conn: Conn, limit: int) -> list[dict[str, Any]]:
    """Requests no run has claimed yet, oldest first."""
    return conn.execute(
        "SELECT * FROM compilations WHERE status = 'requested' ORDER BY id LIMIT %s", (limit,)
    ).fetchall()


def compilation(conn: Conn, compilation_id: int) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM compilations WHERE id = %s", (compilation_id,)).fetchone()


def claim_compilation(conn: Conn, compilation_id: int, script_id: str) -> dict[str, Any] | None:
    """Mark the script's in-flight compilation `compilation_id` running (a re-executed run
    claims it again); None when it is not in flight, or belongs to another script."""
    return conn.execute(
        "UPDATE compilations SET status = 'running', started_at = now()"
        " WHERE id = %s AND script_id = %s AND status IN ('requested', 'running') RETURNING *",
        (compilation_id, script_id),
    ).fetchone()


def start_compilation(conn: Conn, script_id: str, output_format: str) -> dict[str, Any]:
    """A run with no request (a materialization from the UI): it takes over the compilation in
    flight, if any (its run died), else starts one with the script's own options."""
    row = conn.execute(
        "UPDATE compilations SET status = 'running', started_at = now()"
        " WHERE script_id = %s AND status IN ('requested', 'running') RETURNING *",
        (script_id,),
    ).fetchone()
    if row is not None:
        return row
    return returned(
        conn.execute(
            "INSERT INTO compilations (script_id, status, output_format, requested_by, started_at)"
            " VALUES (%s, 'running', %s, 'run', now()) RETURNING *",
            (script_id, output_format),
        ).fetchone()
    )


def finish_compilation(
    conn: Conn,
    compilation_id: int,
    *,
    output_key: str,
    output_uri: str,
    duration_s: float,
    size_bytes: int,
    clip_count: int,
    cost_usd: float,
    plan: Any,
) -> None:
    conn.execute(
        "UPDATE compilations SET status = 'succeeded', output_key = %s, output_uri = %s,"
        " duration_s = %s, size_bytes = %s, clip_count = %s, cost_usd = %s, plan = %s,"
        " completed_at = now() WHERE id = %s",
        (
            output_key,
            output_uri,
            duration_s,
            size_bytes,
            clip_count,
            cost_usd,
            json.dumps(plan),
            compilation_id,
        ),
    )


def fail_compilation(conn: Conn, compilation_id: int, error: str) -> None:
    conn.execute(
        "UPDATE compilations SET status = 'failed', error = %s, completed_at = now()"
        " WHERE id = %s AND status IN ('requested', 'running')",
        (error, compilation_id),
    )


def latest_compilation(
    conn: Conn, script_id: str, *, succeeded: bool = False
) -> dict[str, Any] | None:
    """The newest compilation attempt, or with `succeeded` the newest published video."""
    return conn.execute(
        "SELECT * FROM compilations WHERE script_id = %s"
        " AND (NOT %s OR status = 'succeeded') ORDER BY id DESC LIMIT 1",
        (script_id, succeeded),
    ).fetchone()


def compilations_of(conn: Conn, script_id: str) -> list[dict[str, Any]]:
    """Every compilation of a script, newest first."""
    return conn.execute(
        "SELECT * FROM compilations WHERE script_id = %s ORDER BY id DESC", (script_id,)
    ).fetchall()
