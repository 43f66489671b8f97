"""The append-only approval log: reviewers' decisions on section takes, read by id cursor."""

from __future__ import annotations

from typing import Any

import psycopg


def append_decision(
    conn: psycopg.Connection,
    *,
    script_id: str,
    section_id: str,
    take: int,
    decision: str,
    note: str | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    reviewer: str | None = None,
) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO approvals (script_id, section_id, take, decision, note, prompt, seed, reviewer)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (script_id, section_id, take, decision, note, prompt, seed, reviewer),
    ).fetchone()  # type: ignore[return-value]


def decisions_after(conn: psycopg.Connection, cursor: int, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM approvals WHERE id > %s ORDER BY id LIMIT %s", (cursor, limit)
    ).fetchall()  # type: ignore[return-value]


def latest_decisions(conn: psycopg.Connection, script_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The newest decision for each (section, take) of a script."""
    rows = conn.execute(
        "SELECT DISTINCT ON (section_id, take) * FROM approvals WHERE script_id = %s"
        " ORDER BY section_id, take, id DESC",
        (script_id,),
    ).fetchall()
    return {(r["section_id"], r["take"]): r for r in rows}  # type: ignore[call-overload,index]
