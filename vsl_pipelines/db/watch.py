"""The landing-page player's tables: `cuts` (a compilation plus a variant key, by public id),
`split_links` (a script's link that assigns each new viewer a cut) and `watch_events` (one row
per cut, viewer and kind: a repeated post changes nothing).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from vsl_pipelines.db.connection import Conn, fetch_all, fetch_one, returned

MAIN_VARIANT = "main"  # the cut of a script without hook variants
PUBLIC_ID_BYTES = 12  # 16 URL-safe characters: unguessable, short enough to paste


def new_public_id() -> str:
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


@dataclass(frozen=True)
class CutRow:
    """A cut with what the player needs of its compilation."""

    id: int
    public_id: str
    compilation_id: int
    variant: str
    script_id: str
    output_key: str | None
    plan: dict | None
    status: str


_CUT = (
    "SELECT c.id, c.public_id, c.compilation_id, c.variant, p.script_id, p.output_key, p.plan,"
    " p.status FROM cuts c JOIN compilations p ON p.id = c.compilation_id"
)


def ensure_cut(conn: Conn, compilation_id: int, variant: str = MAIN_VARIANT) -> CutRow:
    """The cut of `compilation_id` for `variant`, made (with a new public id) on first ask."""
    conn.execute(
        "INSERT INTO cuts (public_id, compilation_id, variant) VALUES (%s, %s, %s)"
        " ON CONFLICT (compilation_id, variant) DO NOTHING",
        (new_public_id(), compilation_id, variant),
    )
    return returned(
        fetch_one(
            conn,
            CutRow,
            f"{_CUT} WHERE c.compilation_id = %s AND c.variant = %s",
            (compilation_id, variant),
        )
    )


def cut_by_public_id(conn: Conn, public_id: str) -> CutRow | None:
    return fetch_one(conn, CutRow, f"{_CUT} WHERE c.public_id = %s", (public_id,))


def cuts_of_compilation(conn: Conn, compilation_id: int) -> list[CutRow]:
    return fetch_all(
        conn, CutRow, f"{_CUT} WHERE c.compilation_id = %s ORDER BY c.id", (compilation_id,)
    )


def split_link(conn: Conn, script_id: str) -> str:
    """The script's split link id, made on first ask."""
    conn.execute(
        "INSERT INTO split_links (script_id, public_id) VALUES (%s, %s)"
        " ON CONFLICT (script_id) DO NOTHING",
        (script_id, new_public_id()),
    )
    row = conn.execute(
        "SELECT public_id FROM split_links WHERE script_id = %s", (script_id,)
    ).fetchone()
    assert row is not None
    return str(row["public_id"])


def script_of_split_link(conn: Conn, public_id: str) -> str | None:
    row = conn.execute(
        "SELECT script_id FROM split_links WHERE public_id = %s", (public_id,)
    ).fetchone()
    return None if row is None else str(row["script_id"])


def record_event(conn: Conn, cut_id: int, viewer: str, kind: str) -> bool:
    """Keep the event unless this viewer already sent this kind for this cut; True if new."""
    cursor = conn.execute(
        "INSERT INTO watch_events (cut_id, viewer, kind) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (cut_id, viewer, kind),
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class CutCounts:
    """A cut of a script and how many viewers sent each kind of event."""

    cut_id: int
    public_id: str
    compilation_id: int
    variant: str
    kind: str | None
    viewers: int


def counts_of_script(conn: Conn, script_id: str) -> list[CutCounts]:
    """Every cut of the script's compilations, with its viewers per event kind (a cut without
    events: one row, kind None)."""
    return fetch_all(
        conn,
        CutCounts,
        "SELECT c.id AS cut_id, c.public_id, c.compilation_id, c.variant, e.kind,"
        " count(e.viewer)::int AS viewers"
        " FROM cuts c JOIN compilations p ON p.id = c.compilation_id"
        " LEFT JOIN watch_events e ON e.cut_id = c.id"
        " WHERE p.script_id = %s GROUP BY c.id, e.kind ORDER BY c.id, e.kind",
        (script_id,),
    )


def scripts_with_events_since(conn: Conn, since: datetime) -> list[str]:
    """Scripts whose cuts received an event at or after `since`."""
    rows = conn.execute(
        "SELECT DISTINCT p.script_id FROM watch_events e JOIN cuts c ON c.id = e.cut_id"
        " JOIN compilations p ON p.id = c.compilation_id WHERE e.at >= %s ORDER BY 1",
        (since,),
    ).fetchall()
    return [str(r["script_id"]) for r in rows]
