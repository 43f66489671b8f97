"""What waits for reviewers, counted in one statement for the studio's navigation, and each
script's review settings (`review_settings`: compile on the last approval, or wait for a
person's "Compile")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vsl_pipelines.db.connection import Conn, fetch_all

# A section's current take of a subject waits while it is stored and has no decision; a
# narration only where the section has a voice (its own or the script's), as `review_queue`.
_WAITING = (
    "SELECT count(*) FILTER (WHERE clip.id IS NOT NULL AND c.id IS NULL)"
    " + count(*) FILTER (WHERE voice.id IS NOT NULL AND n.id IS NULL"
    "  AND (jsonb_typeof(s.spec->'voice') = 'object'"
    "   OR jsonb_typeof(sc.document->'voice') = 'object')) AS waiting"
    " FROM scripts sc JOIN sections s ON s.script_id = sc.id"
    " LEFT JOIN takes clip ON clip.script_id = s.script_id AND clip.section_id = s.id"
    "  AND clip.stage = 'clip' AND clip.take = s.current_take"
    " LEFT JOIN approvals c ON c.script_id = s.script_id AND c.section_id = s.id"
    "  AND c.subject = 'clip' AND c.take = s.current_take AND NOT c.void"
    " LEFT JOIN takes voice ON voice.script_id = s.script_id AND voice.section_id = s.id"
    "  AND voice.stage = 'narration' AND voice.take = s.narration_take"
    " LEFT JOIN approvals n ON n.script_id = s.script_id AND n.section_id = s.id"
    "  AND n.subject = 'narration' AND n.take = s.narration_take AND NOT n.void"
    " WHERE sc.workspace_id = %s"
)


def waiting_decisions(conn: Conn, workspace_id: int) -> int:
    """How many takes (clips and narrations) of the workspace's scripts wait for a decision:
    one statement over the index of each table the queue reads (what the nav badge shows)."""
    row = conn.execute(_WAITING, (workspace_id,)).fetchone()
    return int(row["waiting"]) if row else 0


def compile_on_approval(conn: Conn, script_id: str) -> bool:
    """Whether the script compiles when its last take is approved (the default), or waits for
    a person's "Compile"."""
    row = conn.execute(
        "SELECT compile_on_approval FROM review_settings WHERE script_id = %s", (script_id,)
    ).fetchone()
    return True if row is None else bool(row["compile_on_approval"])


def set_compile_on_approval(conn: Conn, script_id: str, on: bool, updated_by: str) -> None:
    conn.execute(
        "INSERT INTO review_settings (script_id, compile_on_approval, updated_by)"
        " VALUES (%s, %s, %s) ON CONFLICT (script_id) DO UPDATE"
        " SET compile_on_approval = EXCLUDED.compile_on_approval,"
        " updated_by = EXCLUDED.updated_by, updated_at = now()",
        (script_id, on, updated_by),
    )


@dataclass(frozen=True)
class ManualScript:
    """A script that waits for a person's "Compile": when it was last decided on and last asked
    to compile (None: never)."""

    id: str
    title: str
    decided_at: datetime | None
    compile_requested_at: datetime | None


def manual_scripts(
    conn: Conn, workspace_id: int, script_id: str | None = None
) -> list[ManualScript]:
    """The workspace's scripts (or one of them) set to wait for a person's "Compile", oldest
    first."""
    return fetch_all(
        conn,
        ManualScript,
        "SELECT sc.id, sc.title,"
        " (SELECT max(a.created_at) FROM approvals a"
        "  WHERE a.script_id = sc.id AND NOT a.void) AS decided_at,"
        " (SELECT max(co.created_at) FROM compilations co"
        "  WHERE co.script_id = sc.id) AS compile_requested_at"
        " FROM scripts sc JOIN review_settings r ON r.script_id = sc.id"
        " WHERE sc.workspace_id = %s AND NOT r.compile_on_approval"
        " AND (%s::text IS NULL OR sc.id = %s) ORDER BY sc.created_at, sc.id",
        (workspace_id, script_id, script_id),
    )
