"""The append-only approval log: reviewers' decisions on section takes, read by id cursor.

One decision per take (a unique index): a second one is refused, however close in time.
"""

from __future__ import annotations

from typing import Any

from vsl_pipelines.db.connection import Conn


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
) -> dict[str, Any] | None:
    """The new decision, or None when the take already has one."""
    return conn.execute(
        "INSERT INTO approvals (script_id, section_id, take, decision, note, prompt, seed,"
        " reviewer) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (script_id, section_id, take) WHERE NOT void DO NOTHING RETURNING *",
        (script_id, section_id, take, decision, note, prompt, seed, reviewer),
    ).fetchone()


def decision_on(conn: Conn, script_id: str, section_id: str, take: int) -> dict[str, Any] | None:
    """The take's decision, if it has one."""
    return conn.execute(
        "SELECT * FROM approvals WHERE script_id = %s AND section_id = %s AND take = %s"
        " AND NOT void",
        (script_id, section_id, take),
    ).fetchone()


def decisions_after(conn: Conn, cursor: int, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM approvals WHERE id > %s AND NOT void ORDER BY id LIMIT %s", (cursor, limit)
    ).fetchall()


def latest_decisions(conn: Conn, script_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The decision on each decided (section, take) of a script."""
    rows = conn.execute(
        "SELECT * FROM approvals WHERE script_id = %s AND NOT void", (script_id,)
    ).fetchall()
    return {(r["section_id"], r["take"]): r for r in rows}


def current_take_decisions(conn: Conn, script_id: str) -> dict[str, str | None]:
    """Each section of the script, in order -> the decision on its current take (None:
    undecided).

    One lookup per section in the one-decision-per-take index: its cost does not grow with
    the script's history of decisions."""
    rows = conn.execute(
        "SELECT s.id, a.decision FROM sections s LEFT JOIN approvals a"
        " ON a.script_id = s.script_id AND a.section_id = s.id AND a.take = s.current_take"
        " AND NOT a.void WHERE s.script_id = %s ORDER BY s.position",
        (script_id,),
    ).fetchall()
    return {r["id"]: r["decision"] for r in rows}
