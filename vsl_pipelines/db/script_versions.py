"""The `script_versions` table: every saved version of a script, who saved it, when, and what
the save changed; the newest is the script's document (`scripts.document`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all, fetch_one, returned

UNKNOWN_AUTHOR = "unknown"


@dataclass(frozen=True)
class ScriptVersionRow:
    """A `script_versions` row, its columns in the table's order: `changes` says what the save
    sent back to generation (`regenerated`: section -> stages), `added`, `removed`, `cost_usd`."""

    script_id: str
    version: int
    document: JsonObject
    saved_by: str
    saved_at: datetime
    changes: JsonObject


def record_version(
    conn: Conn,
    script_id: str,
    version: int,
    document: JsonObject,
    saved_by: str | None,
    changes: JsonObject | None = None,
) -> ScriptVersionRow:
    """Keep `document` as the script's `version` (a number already taken raises psycopg's
    UniqueViolation: two saves from one version never both land)."""
    return returned(
        fetch_one(
            conn,
            ScriptVersionRow,
            "INSERT INTO script_versions (script_id, version, document, saved_by, changes)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING *",
            (
                script_id,
                version,
                json.dumps(document),
                saved_by or UNKNOWN_AUTHOR,
                json.dumps(changes or {}, default=str),
            ),
        )
    )


def keep_first_version(conn: Conn, script_id: str) -> None:
    """A script stored without versions gets its document as version 1 (by an unknown
    author); a script that has one is left as it is, however many callers race here."""
    conn.execute(
        "INSERT INTO script_versions (script_id, version, document, saved_by, saved_at)"
        " SELECT id, 1, document, %s, created_at FROM scripts WHERE id = %s"
        " ON CONFLICT (script_id, version) DO NOTHING",
        (UNKNOWN_AUTHOR, script_id),
    )


def latest_version(conn: Conn, script_id: str) -> int:
    """The script's newest version number (0 for a script without versions)."""
    row = conn.execute(
        "SELECT COALESCE(max(version), 0) AS version FROM script_versions WHERE script_id = %s",
        (script_id,),
    ).fetchone()
    return int(row["version"]) if row else 0


def versions_of(conn: Conn, script_id: str) -> list[ScriptVersionRow]:
    """A script's versions, newest first."""
    return fetch_all(
        conn,
        ScriptVersionRow,
        "SELECT * FROM script_versions WHERE script_id = %s ORDER BY version DESC",
        (script_id,),
    )


def version_of(conn: Conn, script_id: str, version: int) -> ScriptVersionRow | None:
    return fetch_one(
        conn,
        ScriptVersionRow,
        "SELECT * FROM script_versions WHERE script_id = %s AND version = %s",
        (script_id, version),
    )


def queued_versions(conn: Conn) -> list[tuple[str, int]]:
    """Queued scripts, oldest first, with their current version (1 for a script stored
    without versions)."""
    rows = conn.execute(
        "SELECT s.id, COALESCE(max(v.version), 1) AS version FROM scripts s"
        " LEFT JOIN script_versions v ON v.script_id = s.id"
        " WHERE s.status = 'queued' GROUP BY s.id ORDER BY min(s.created_at), s.id"
    ).fetchall()
    return [(r["id"], int(r["version"])) for r in rows]
