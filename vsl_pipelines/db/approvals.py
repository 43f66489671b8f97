"""The append-only approval log: reviewers' decisions on section takes, read by id cursor."""

from __future__ import annotations

from typing import Any

from vsl_pipelines.db.connection import Conn, returned


def append_decision(
    conn: Conn,
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
    return returned(
        conn.execute(
            "INSERT INTO approvals (script_id, section_id, take, decision, note, prompt, seed,"
            " reviewer) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (script_id, section_id, take, decision, note, prompt, seed, reviewer),
        ).fetchone()
    )


def decisions_after(conn: Conn, cursor: int, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM approvals WHERE id > %s ORDER BY id LIMIT %s", (cursor, limit)
    ).fetchall()


def latest_decisions(conn: Conn, script_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The newest decision for each (section, take) of a script."""
    rows = conn.execute(
        "SELECT DISTINCT ON (section_id, take) * FROM approvals WHERE script_id = %s"
        " ORDER BY section_id, take, id DESC",
        (script_id,),
    ).fetchall()
    return {(r["section_id"], r["take"]): r for r in rows}
