"""The `compilations` table: every request to compile a script and what became of it.

A row is `requested` (API, or the approval sensor's automatic request), `running` once its run
claims it, then `succeeded` or `failed`; a unique index allows one in flight per script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all, fetch_one, returned

IN_FLIGHT = ("requested", "running")


@dataclass(frozen=True)
class CompilationRow:
    """A `compilations` row, its columns in the table's order."""

    id: int
    script_id: str
    status: Literal["requested", "running", "succeeded", "failed"]
    output_key: str | None
    output_uri: str | None
    duration_s: float | None
    size_bytes: int | None
    clip_count: int | None
    cost_usd: Decimal | None
    plan: Any
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    output_format: Literal["mp4", "webm", "avi"]
    quality: Literal["draft", "standard", "high"]
    options: JsonObject
    requested_by: str
    approval_id: int | None
    started_at: datetime | None


def request_compilation(
    conn: Conn,
    script_id: str,
    *,
    output_format: str,
    quality: str,
    options: JsonObject,
    requested_by: str,
    approval_id: int | None = None,
) -> CompilationRow | None:
    """The new `requested` row, or None when the script already has one in flight (or this
    approval already made its request)."""
    return fetch_one(
        conn,
        CompilationRow,
        "INSERT INTO compilations (script_id, status, output_format, quality, options,"
        " requested_by, approval_id) VALUES (%s, 'requested', %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING *",
        (script_id, output_format, quality, json.dumps(options), requested_by, approval_id),
    )


def in_flight(conn: Conn, script_id: str) -> CompilationRow | None:
    """The script's compilation requested or running, if any."""
    return fetch_one(
        conn,
        CompilationRow,
        "SELECT * FROM compilations WHERE script_id = %s AND status IN ('requested', 'running')",
        (script_id,),
    )


def running(conn: Conn, limit: int) -> list[CompilationRow]:
    """Compilations a run claimed and has not finished, oldest first."""
    return fetch_all(
        conn,
        CompilationRow,
        "SELECT * FROM compilations WHERE status = 'running' ORDER BY id LIMIT %s",
        (limit,),
    )


def requested(conn: Conn, limit: int) -> list[CompilationRow]:
    """Requests no run has claimed yet, oldest first."""
    return fetch_all(
        conn,
        CompilationRow,
        "SELECT * FROM compilations WHERE status = 'requested' ORDER BY id LIMIT %s",
        (limit,),
    )


def compilation(conn: Conn, compilation_id: int) -> CompilationRow | None:
    return fetch_one(
        conn, CompilationRow, "SELECT * FROM compilations WHERE id = %s", (compilation_id,)
    )


def claim_compilation(conn: Conn, compilation_id: int, script_id: str) -> CompilationRow | None:
    """Mark the script's in-flight compilation `compilation_id` running (a re-executed run
    claims it again); None when it is not in flight, or belongs to another script."""
    return fetch_one(
        conn,
        CompilationRow,
        "UPDATE compilations SET status = 'running', started_at = now()"
        " WHERE id = %s AND script_id = %s AND status IN ('requested', 'running') RETURNING *",
        (compilation_id, script_id),
    )


def start_compilation(conn: Conn, script_id: str, output_format: str) -> CompilationRow:
    """A run with no request (a materialization from the UI): it takes over the compilation in
    flight, if any (its run died), else starts one with the script's own options."""
    row = fetch_one(
        conn,
        CompilationRow,
        "UPDATE compilations SET status = 'running', started_at = now()"
        " WHERE script_id = %s AND status IN ('requested', 'running') RETURNING *",
        (script_id,),
    )
    if row is not None:
        return row
    return returned(
        fetch_one(
            conn,
            CompilationRow,
            "INSERT INTO compilations (script_id, status, output_format, requested_by, started_at)"
            " VALUES (%s, 'running', %s, 'run', now()) RETURNING *",
            (script_id, output_format),
        )
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
) -> CompilationRow | None:
    """The newest compilation attempt, or with `succeeded` the newest published video."""
    return fetch_one(
        conn,
        CompilationRow,
        "SELECT * FROM compilations WHERE script_id = %s"
        " AND (NOT %s OR status = 'succeeded') ORDER BY id DESC LIMIT 1",
        (script_id, succeeded),
    )


def compilations_of(conn: Conn, script_id: str) -> list[CompilationRow]:
    """Every compilation of a script, newest first."""
    return fetch_all(
        conn,
        CompilationRow,
        "SELECT * FROM compilations WHERE script_id = %s ORDER BY id DESC",
        (script_id,),
    )
