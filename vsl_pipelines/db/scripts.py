"""The `scripts` and `sections` tables: what marketers submitted and where each section stands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from vsl_pipelines.db import script_versions
from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all, fetch_one
from vsl_pipelines.domain.script import Script, Section

STATUSES = ("queued", "generating", "review", "compiling", "compiled", "failed")


@dataclass(frozen=True)
class ScriptRow:
    """A `scripts` row, its columns in the table's order."""

    id: str
    title: str
    budget_usd: Decimal | None
    document: JsonObject
    source_path: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    checked_at: datetime | None
    error: str | None
    attempt_rounds: int
    workspace_id: int


@dataclass(frozen=True)
class SectionRow:
    """A `sections` row of a script: its place, what it was written with (`spec`, the section
    as submitted) and its current clip and narration takes with the reviewer's overrides."""

    id: str
    position: int
    narration: str
    spec: JsonObject
    current_take: int
    overrides: JsonObject
    narration_take: int
    narration_overrides: JsonObject


@dataclass(frozen=True)
class ScriptListing:
    """What a list of scripts shows of each."""

    id: str
    title: str
    status: str
    error: str | None
    budget_usd: Decimal | None
    created_at: datetime


@dataclass(frozen=True)
class ScriptSummary(ScriptListing):
    """A script as the studio's list shows it: the listing, plus how many sections need a
    keyframe (all need a clip) and have it for their current take, the estimated spend and the
    last change."""

    sections: int
    keyframes: int
    keyframes_done: int
    clips_done: int
    spent_usd: Decimal
    updated_at: datetime


@dataclass(frozen=True)
class AttemptRound:
    """A failed script granted another round of attempts: its round now."""

    id: str
    attempt_rounds: int


class ScriptExists(ValueError):
    pass


class ScriptNotFound(KeyError):
    def __str__(self) -> str:
        return f"no script {self.args[0]!r}; `vsl scripts list` shows the stored ones"


def insert_script(
    conn: Conn,
    script: Script,
    source_path: str | None,
    workspace_id: int,
    *,
    saved_by: str | None = None,
    changes: JsonObject | None = None,
) -> None:
    """Store a validated script and its sections in a workspace, its document as version 1
    (`saved_by`, `changes`: the version's author and what it says of itself); an existing id
    is refused, never overwritten."""
    document = script.model_dump(mode="json")
    row = conn.execute(
        "INSERT INTO scripts (id, title, budget_usd, document, source_path, workspace_id)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
        (
            script.id,
            script.title,
            script.budget_usd,
            json.dumps(document),
            source_path,
            workspace_id,
        ),
    ).fetchone()
    if row is None:
        raise ScriptExists(f"script {script.id!r} is already stored; give the new one another id")
    for position, section in enumerate(script.sections):
        conn.execute(
            "INSERT INTO sections (script_id, id, position, narration, spec)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                script.id,
                section.id,
                position,
                section.narration,
                json.dumps(section.model_dump(mode="json")),
            ),
        )
    script_versions.record_version(conn, script.id, 1, document, saved_by, changes)


def lock_script(conn: Conn, script_id: str) -> ScriptRow:
    """The script's row, locked until the transaction ends (an edit's save, one at a time)."""
    row = fetch_one(conn, ScriptRow, "SELECT * FROM scripts WHERE id = %s FOR UPDATE", (script_id,))
    if row is None:
        raise ScriptNotFound(script_id)
    return row


def save_document(conn: Conn, script: Script) -> None:
    """A stored script's new document (an edit): its title, budget and document."""
    conn.execute(
        "UPDATE scripts SET title = %s, budget_usd = %s, document = %s, updated_at = now()"
        " WHERE id = %s",
        (script.title, script.budget_usd, json.dumps(script.model_dump(mode="json")), script.id),
    )


def update_section(conn: Conn, script_id: str, section: Section, position: int) -> None:
    """A kept section's place, narration and spec after an edit; its takes are unchanged."""
    conn.execute(
        "UPDATE sections SET position = %s, narration = %s, spec = %s"
        " WHERE script_id = %s AND id = %s",
        (
            position,
            section.narration,
            json.dumps(section.model_dump(mode="json")),
            script_id,
            section.id,
        ),
    )


def add_section(conn: Conn, script_id: str, section: Section, position: int) -> None:
    """A section an edit adds. Its takes start after any its id had before (a section removed
    and added again never finds its old jobs or media under its new takes)."""
    conn.execute(
        "INSERT INTO sections (script_id, id, position, narration, spec, current_take,"
        " narration_take)"
        " SELECT %(script)s, %(section)s, %(position)s, %(narration)s, %(spec)s,"
        "  1 + GREATEST((SELECT max(take) FROM jobs WHERE script_id = %(script)s"
        "   AND section_id = %(section)s AND stage IN ('keyframe', 'clip')),"
        "   (SELECT max(take) FROM takes WHERE script_id = %(script)s"
        "   AND section_id = %(section)s AND stage IN ('keyframe', 'clip')), 0),"
        "  1 + GREATEST((SELECT max(take) FROM jobs WHERE script_id = %(script)s"
        "   AND section_id = %(section)s AND stage = 'narration'),"
        "   (SELECT max(take) FROM takes WHERE script_id = %(script)s"
        "   AND section_id = %(section)s AND stage = 'narration'), 0)",
        {
            "script": script_id,
            "section": section.id,
            "position": position,
            "narration": section.narration,
            "spec": json.dumps(section.model_dump(mode="json")),
        },
    )


def remove_sections(conn: Conn, script_id: str, section_ids: list[str]) -> None:
    """Sections an edit removes (their jobs, takes and decisions stay, for the record)."""
    conn.execute(
        "DELETE FROM sections WHERE script_id = %s AND id = ANY(%s)", (script_id, section_ids)
    )


def requeue_script(conn: Conn, script_id: str) -> bool:
    """An edited script with new takes to generate back to `queued` (the generation schedule
    starts it, as it starts a new script), its failure cleared; never while it compiles. True
    when it moved."""
    row = conn.execute(
        "UPDATE scripts SET status = 'queued', error = NULL, checked_at = NULL,"
        " updated_at = now() WHERE id = %s AND status <> 'compiling' RETURNING id",
        (script_id,),
    ).fetchone()
    return row is not None


def script_workspace(conn: Conn, script_id: str) -> int | None:
    """The workspace a script belongs to; None for an unknown script."""
    row = conn.execute("SELECT workspace_id FROM scripts WHERE id = %s", (script_id,)).fetchone()
    return int(row["workspace_id"]) if row else None


def load_stored_script(conn: Conn, script_id: str) -> Script:
    row = conn.execute("SELECT document FROM scripts WHERE id = %s", (script_id,)).fetchone()
    if row is None:
        raise ScriptNotFound(script_id)
    return Script.model_validate(row["document"])


def script_row(conn: Conn, script_id: str) -> ScriptRow:
    row = fetch_one(conn, ScriptRow, "SELECT * FROM scripts WHERE id = %s", (script_id,))
    if row is None:
        raise ScriptNotFound(script_id)
    return row


def list_scripts(conn: Conn, workspace_id: int | None = None) -> list[ScriptListing]:
    """Every stored script, or a workspace's, oldest first."""
    return fetch_all(
        conn,
        ScriptListing,
        "SELECT id, title, status, error, budget_usd, created_at FROM scripts"
        " WHERE (%s::bigint IS NULL OR workspace_id = %s) ORDER BY created_at, id",
        (workspace_id, workspace_id),
    )


def script_ids(
    conn: Conn, statuses: tuple[str, ...] = STATUSES, workspace_id: int | None = None
) -> list[str]:
    """Scripts in one of `statuses` (of a workspace, when given), oldest first."""
    rows = conn.execute(
        "SELECT id FROM scripts WHERE status = ANY(%s)"
        " AND (%s::bigint IS NULL OR workspace_id = %s) ORDER BY created_at, id",
        (list(statuses), workspace_id, workspace_id),
    ).fetchall()
    return [r["id"] for r in rows]


def set_status(conn: Conn, script_id: str, status: str) -> None:
    conn.execute(
        "UPDATE scripts SET status = %s, updated_at = now() WHERE id = %s", (status, script_id)
    )


def move_status(conn: Conn, script_id: str, status: str, from_statuses: tuple[str, ...]) -> bool:
    """Set `status` only if the script is in one of `from_statuses`; True when it moved."""
    row = conn.execute(
        "UPDATE scripts SET status = %s, updated_at = now()"
        " WHERE id = %s AND status = ANY(%s) RETURNING id",
        (status, script_id, list(from_statuses)),
    ).fetchone()
    return row is not None


def fail_script(conn: Conn, script_id: str, error: str) -> bool:
    """Mark a generating script failed with the reason; True when it was generating."""
    row = conn.execute(
        "UPDATE scripts SET status = 'failed', error = %s, updated_at = now()"
        " WHERE id = %s AND status = 'generating' RETURNING id",
        (error, script_id),
    ).fetchone()
    return row is not None


def grant_attempt_round(conn: Conn, script_id: str) -> AttemptRound | None:
    """A failed script back to generating with one more round of attempts; None if not failed."""
    return fetch_one(
        conn,
        AttemptRound,
        "UPDATE scripts SET status = 'generating', error = NULL,"
        " attempt_rounds = attempt_rounds + 1, checked_at = NULL, updated_at = now()"
        " WHERE id = %s AND status = 'failed' RETURNING id, attempt_rounds",
        (script_id,),
    )


def sections_of(conn: Conn, script_id: str) -> list[SectionRow]:
    """A script's sections in their order."""
    return fetch_all(
        conn,
        SectionRow,
        "SELECT id, position, narration, spec, current_take, overrides, narration_take,"
        " narration_overrides FROM sections"
        " WHERE script_id = %s ORDER BY position",
        (script_id,),
    )


def start_new_take(conn: Conn, script_id: str, section_id: str, overrides: JsonObject) -> int:
    """Move a section to its next take with the reviewer's overrides; return the take number."""
    row = conn.execute(
        "UPDATE sections SET current_take = current_take + 1, overrides = %s"
        " WHERE script_id = %s AND id = %s RETURNING current_take",
        (json.dumps(overrides), script_id, section_id),
    ).fetchone()
    if row is None:
        raise KeyError(f"script {script_id!r} has no section {section_id!r}")
    return int(row["current_take"])


def start_new_narration_take(
    conn: Conn, script_id: str, section_id: str, overrides: JsonObject
) -> int:
    """Move a section's narration to its next take with the reviewer's overrides (corrected
    `text`, voice `params`); return the narration take number. The clip's take is unchanged."""
    row = conn.execute(
        "UPDATE sections SET narration_take = narration_take + 1, narration_overrides = %s"
        " WHERE script_id = %s AND id = %s RETURNING narration_take",
        (json.dumps(overrides), script_id, section_id),
    ).fetchone()
    if row is None:
        raise KeyError(f"script {script_id!r} has no section {section_id!r}")
    return int(row["narration_take"])


def scripts_to_check(conn: Conn, limit: int) -> list[str]:
    """Generating scripts, least recently checked first; marks them checked now."""
    rows = conn.execute(
        "UPDATE scripts SET checked_at = clock_timestamp() WHERE id IN ("
        " SELECT id FROM scripts WHERE status = 'generating'"
        " ORDER BY checked_at NULLS FIRST, id LIMIT %s FOR UPDATE SKIP LOCKED)"
        " RETURNING id",
        (limit,),
    ).fetchall()
    return [r["id"] for r in rows]


def generating_among(conn: Conn, script_ids: list[str]) -> list[str]:
    """Those of `script_ids` still generating, in the given order."""
    rows = conn.execute(
        "SELECT id FROM scripts WHERE id = ANY(%s) AND status = 'generating'", (script_ids,)
    ).fetchall()
    found = {r["id"] for r in rows}
    return [sid for sid in script_ids if sid in found]


def script_summaries(conn: Conn, workspace_id: int | None = None) -> list[ScriptSummary]:
    """Every script (or a workspace's), newest first, with what the studio's list shows: how many sections need
    each stage and have it for their current take, the estimated spend (every prediction
    created), and the last change to it, its jobs or its compilations. One statement."""
    return fetch_all(
        conn,
        ScriptSummary,
        """
        WITH wanted AS (
            SELECT script_id, count(*) AS sections,
                   count(*) FILTER (WHERE spec->'keyframe' IS NOT NULL
                                    AND spec->'keyframe' <> 'null'::jsonb) AS keyframes
            FROM sections GROUP BY script_id
        ), made AS (
            SELECT t.script_id,
                   count(*) FILTER (WHERE t.stage = 'keyframe') AS keyframes_done,
                   count(*) FILTER (WHERE t.stage = 'clip') AS clips_done
            FROM takes t JOIN sections s
              ON s.script_id = t.script_id AND s.id = t.section_id AND s.current_take = t.take
            GROUP BY t.script_id
        ), spent AS (
            SELECT script_id, sum(estimated_cost_usd) FILTER (WHERE status <> 'creating') AS usd,
                   max(updated_at) AS changed
            FROM jobs WHERE script_id IS NOT NULL GROUP BY script_id
        ), compiled AS (
            SELECT script_id, max(COALESCE(completed_at, created_at)) AS changed
            FROM compilations GROUP BY script_id
        )
        SELECT s.id, s.title, s.status, s.error, s.budget_usd, s.created_at,
               COALESCE(w.sections, 0) AS sections, COALESCE(w.keyframes, 0) AS keyframes,
               COALESCE(m.keyframes_done, 0) AS keyframes_done,
               COALESCE(m.clips_done, 0) AS clips_done,
               COALESCE(p.usd, 0) AS spent_usd,
               GREATEST(s.updated_at, p.changed, c.changed) AS updated_at
        FROM scripts s
        LEFT JOIN wanted w ON w.script_id = s.id
        LEFT JOIN made m ON m.script_id = s.id
        LEFT JOIN spent p ON p.script_id = s.id
        LEFT JOIN compiled c ON c.script_id = s.id
        WHERE %(workspace)s::bigint IS NULL OR s.workspace_id = %(workspace)s
        ORDER BY s.created_at DESC, s.id
        """,
        {"workspace": workspace_id},
    )
