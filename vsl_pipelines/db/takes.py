"""The `takes` table: one row per stored version of a section's keyframe, clip or soundtrack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all, fetch_one, returned


@dataclass(frozen=True)
class TakeRow:
    """A `takes` row (a stored output: `script_id` None for an ad-hoc job's), its columns in the
    table's order."""

    id: int
    script_id: str | None
    section_id: str
    stage: str
    take: int
    job_id: int | None
    media_key: str
    thumbnail_key: str | None
    probe: JsonObject
    duration_s: float | None
    created_at: datetime
    size_bytes: int | None
    content_type: str | None


def record_take(
    conn: Conn,
    *,
    script_id: str,
    section_id: str,
    stage: str,
    take: int,
    job_id: int | None,
    media_key: str,
    thumbnail_key: str | None,
    probe: JsonObject,
    duration_s: float | None,
    size_bytes: int | None = None,
    content_type: str | None = None,
) -> TakeRow:
    """Insert or refresh a take (re-collecting the same take replaces its media)."""
    return returned(
        fetch_one(
            conn,
            TakeRow,
            "INSERT INTO takes (script_id, section_id, stage, take, job_id, media_key, thumbnail_key,"
            " probe, duration_s, size_bytes, content_type)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (script_id, section_id, stage, take) DO UPDATE SET job_id = EXCLUDED.job_id,"
            " media_key = EXCLUDED.media_key, thumbnail_key = EXCLUDED.thumbnail_key,"
            " probe = EXCLUDED.probe, duration_s = EXCLUDED.duration_s,"
            " size_bytes = EXCLUDED.size_bytes, content_type = EXCLUDED.content_type,"
            " created_at = now() RETURNING *",
            (
                script_id,
                section_id,
                stage,
                take,
                job_id,
                media_key,
                thumbnail_key,
                json.dumps(probe),
                duration_s,
                size_bytes,
                content_type,
            ),
        )
    )


def record_adhoc_take(
    conn: Conn,
    *,
    job_id: int,
    media_key: str,
    thumbnail_key: str | None,
    probe: JsonObject,
    duration_s: float | None,
    size_bytes: int,
    content_type: str | None,
) -> TakeRow:
    """The stored output of an ad-hoc job (one per job; collecting again replaces it)."""
    return returned(
        fetch_one(
            conn,
            TakeRow,
            "INSERT INTO takes (script_id, section_id, stage, take, job_id, media_key, thumbnail_key,"
            " probe, duration_s, size_bytes, content_type)"
            " VALUES (NULL, '', 'adhoc', 1, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (job_id) WHERE stage = 'adhoc' DO UPDATE SET"
            " media_key = EXCLUDED.media_key, thumbnail_key = EXCLUDED.thumbnail_key,"
            " probe = EXCLUDED.probe, duration_s = EXCLUDED.duration_s,"
            " size_bytes = EXCLUDED.size_bytes, content_type = EXCLUDED.content_type,"
            " created_at = now() RETURNING *",
            (
                job_id,
                media_key,
                thumbnail_key,
                json.dumps(probe),
                duration_s,
                size_bytes,
                content_type,
            ),
        )
    )


def takes_of(conn: Conn, script_id: str, stage: str | None = None) -> list[TakeRow]:
    return fetch_all(
        conn,
        TakeRow,
        "SELECT * FROM takes WHERE script_id = %s AND (%s::text IS NULL OR stage = %s)"
        " ORDER BY section_id, stage, take",
        (script_id, stage, stage),
    )


def take_of(conn: Conn, script_id: str, section_id: str, stage: str, take: int) -> TakeRow | None:
    return fetch_one(
        conn,
        TakeRow,
        "SELECT * FROM takes WHERE script_id = %s AND section_id = %s AND stage = %s AND take = %s",
        (script_id, section_id, stage, take),
    )


def take_by_id(conn: Conn, take_id: int) -> TakeRow | None:
    return fetch_one(conn, TakeRow, "SELECT * FROM takes WHERE id = %s", (take_id,))
