"""The `audit_log` table: every write, by whom, in which workspace; appended, never changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all


@dataclass(frozen=True)
class AuditEntry:
    id: int
    workspace_id: int
    actor: str
    action: str
    object: str
    detail: JsonObject
    created_at: datetime


def record(
    conn: Conn,
    workspace_id: int,
    actor: str,
    action: str,
    object_: str,
    detail: JsonObject | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit_log (workspace_id, actor, action, object, detail)"
        " VALUES (%s, %s, %s, %s, %s)",
        (workspace_id, actor, action, object_, json.dumps(detail or {}, default=str)),
    )


def entries(
    conn: Conn, workspace_id: int, *, limit: int = 100, before: int | None = None
) -> list[AuditEntry]:
    """The workspace's newest entries first (those older than id `before`, when given)."""
    return fetch_all(
        conn,
        AuditEntry,
        "SELECT * FROM audit_log WHERE workspace_id = %s AND (%s::bigint IS NULL OR id < %s)"
        " ORDER BY id DESC LIMIT %s",
        (workspace_id, before, before, limit),
    )
