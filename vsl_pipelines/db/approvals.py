"""The append-only approval log: reviewers' decisions on section takes, read by id cursor.

A decision is about a section's clip or its narration (`subject`); one decision per take of
each (a unique index): a second one is refused, however close in time.
"""

from __future__ import annotations

import json
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
    subject: str = "clip",
    params: dict[str, Any] | None = None,
    text: str | None = None,
) -> dict[str, Any] | None:
    """The new decision, or None when the take (of this subject) already has one."""
    return conn.execute(
        "INSERT INTO approvals (script_id, section_id, subject, take, decision, note, prompt,"
        " seed, params, text, reviewer) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (script_id, section_id, subject, take) WHERE NOT void DO NOTHING"
        " RETURNING *",
        (
            script_id,
            section_id,
            subject,
            take,
            decision,
            note,
            prompt,
            seed,
            None if params is None else json.dumps(params),
            text,
            reviewer,
        ),
    ).fetchone()


def decision_on(
    conn: Conn, script_id: str, section_id: str, take: int, subject: str = "clip"
) -> dict[str, Any] | None:
    """The take's decision, if it has one."""
    return conn.execute(
        "SELECT * FROM approvals WHERE script_id = %s AND section_id = %s AND subject = %s"
        " AND take = %s AND NOT void",
        (script_id, section_id, subject, take),
    ).fetchone()


def decisions_after(conn: Conn, cursor: int, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM approvals WHERE id > %s AND NOT void ORDER BY id LIMIT %s", (cursor, limit)
    ).fetchall()


def latest_decisions(
    conn: Conn, script_id: str, subject: str = "clip"
) -> dict[tuple[str, int], dict[str, Any]]:
    """The decision on each decided (section, take) of a script's clips (or narrations)."""
    rows = conn.execute(
        "SELECT * FROM approvals WHERE script_id = %s AND subject = %s AND NOT void",
        (script_id, subject),
    ).fetchall()
    return {(r["section_id"], r["take"]): r for r in rows}


def current_take_decisions(conn: Conn, script_id: str) -> dict[str, dict[str, Any]]:
    """Each section of the script, in order -> the decision on its current clip take and on
    its current narration take (`{"clip": ..., "narration": ..., "voiced": ...}`, None:
    undecided); `voiced`: the section has a voice (its own or the script's), so a narration.

    Two lookups per section in the one-decision-per-take index: its cost does not grow with
    the script's history of decisions."""
    rows = conn.execute(
        "SELECT s.id, c.decision AS clip, n.decision AS narration,"
        " (jsonb_typeof(s.spec->'voice') = 'object'"
        "  OR jsonb_typeof(sc.document->'voice') = 'object') AS voiced"
        " FROM sections s JOIN scripts sc ON sc.id = s.script_id"
        " LEFT JOIN approvals c ON c.script_id = s.script_id AND c.section_id = s.id"
        " AND c.subject = 'clip' AND c.take = s.current_take AND NOT c.void"
        " LEFT JOIN approvals n ON n.script_id = s.script_id AND n.section_id = s.id"
        " AND n.subject = 'narration' AND n.take = s.narration_take AND NOT n.void"
        " WHERE s.script_id = %s ORDER BY s.position",
        (script_id,),
    ).fetchall()
    return {
        r["id"]: {"clip": r["clip"], "narration": r["narration"], "voiced": bool(r["voiced"])}
        for r in rows
    }
