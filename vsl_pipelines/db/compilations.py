"""The `compilations` table: every attempt to compile a script's approved clips."""

from __future__ import annotations

import json
from typing import Any

from vsl_pipelines.db.connection import Conn, returned


def start_compilation(conn: Conn, script_id: str) -> int:
    row = conn.execute(
        "INSERT INTO compilations (script_id, status) VALUES (%s, 'running') RETURNING id",
        (script_id,),
    ).fetchone()
    return int(returned(row)["id"])


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
        "UPDATE compilations SET status = 'failed', error = %s, completed_at = now() WHERE id = %s",
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
