"""The append-only approval log: reviewers' decisions on section takes, read by id cursor.

A decision is about a section's clip or its narration (`subject`); one decision per take of
each (a unique index): a second one is refused, however close in time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all, fetch_one


@dataclass(frozen=True)
class ApprovalRow:
    """An `approvals` row (a decision), its columns in the table's order."""

    id: int
    script_id: str
    section_id: str
    take: int
    decision: Literal["approved", "rejected"]
    note: str | None
    prompt: str | None
    seed: int | None
    reviewer: str | None
    created_at: datetime
    void: bool
    subject: Literal["clip", "narration"]
    params: JsonObject | None
    text: str | None


@dataclass(frozen=True)
class SectionDecisions:
    """The decisions on a section's current clip take and current narration take (None:
    undecided); `voiced`: the section has a voice (its own or the script's), so a narration."""

    section_id: str
    clip: str | None
    narration: str | None
    voiced: bool


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
    params: JsonObject | None = None,
    text: str | None = None,
) -> ApprovalRow | None:
    """The new decision, or None when the take (of this subject) already has one."""
    return fetch_one(
        conn,
        ApprovalRow,
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
    )


def decision_on(
    conn: Conn, script_id: str, section_id: str, take: int, subject: str = "clip"
) -> ApprovalRow | None:
    """The take's decision, if it has one."""
    return fetch_one(
        conn,
        ApprovalRow,
        "SELECT * FROM approvals WHERE script_id = %s AND section_id = %s AND subject = %s"
        " AND take = %s AND NOT void",
        (script_id, section_id, subject, take),
    )


def decisions_after(conn: Conn, cursor: int, limit: int) -> list[ApprovalRow]:
    return fetch_all(
        conn,
        ApprovalRow,
        "SELECT * FROM approvals WHERE id > %s AND NOT void ORDER BY id LIMIT %s",
        (cursor, limit),
    )


def latest_decisions(
    conn: Conn, script_id: str, subject: str = "clip"
) -> dict[tuple[str, int], ApprovalRow]:
    """The decision on each decided (section, take) of a script's clips (or narrations)."""
    rows = fetch_all(
        conn,
        ApprovalRow,
        "SELECT * FROM approvals WHERE script_id = %s AND subject = %s AND NOT void",
        (script_id, subject),
    )
    return {(r.section_id, r.take): r for r in rows}


def current_take_decisions(conn: Conn, script_id: str) -> dict[str, SectionDecisions]:
    """Each section of the script, in order -> the decisions on its current clip take and on
    its current narration take.

    Two lookups per section in the one-decision-per-take index: its cost does not grow with
    the script's history of decisions."""
    rows = fetch_all(
        conn,
        SectionDecisions,
        "SELECT s.id AS section_id, c.decision AS clip, n.decision AS narration,"
        " COALESCE(jsonb_typeof(s.spec->'voice') = 'object'"
        "  OR jsonb_typeof(sc.document->'voice') = 'object', false) AS voiced"
        " FROM sections s JOIN scripts sc ON sc.id = s.script_id"
        " LEFT JOIN approvals c ON c.script_id = s.script_id AND c.section_id = s.id"
        " AND c.subject = 'clip' AND c.take = s.current_take AND NOT c.void"
        " LEFT JOIN approvals n ON n.script_id = s.script_id AND n.section_id = s.id"
        " AND n.subject = 'narration' AND n.take = s.narration_take AND NOT n.void"
        " WHERE s.script_id = %s ORDER BY s.position",
        (script_id,),
    )
    return {r.section_id: r for r in rows}
