"""The `takes` table: one row per stored version of a section's keyframe, clip or soundtrack."""

from __future__ import annotations

import json
from typing import Any

from vsl_pipelines.db.connection import Conn, returned


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
    probe: dict[str, Any],
    duration_s: float | None,
    size_bytes: int | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """Insert or refresh a take (re-collecting the same take replaces its media)."""
    return returned(
        conn.execute(
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
        ).fetchone()
    )


def record_adhoc_take(
    conn: Conn,
    *,
    job_id: int,
    media_key: str,
    thumbnail_key: str | None,
    probe: dict[str, Any],
    duration_s: float | None,
    size_bytes: int,
    content_type: str | None,
) -> dict[str, Any]:
    """The stored output of an ad-hoc job (one per job; collecting again replaces it)."""
    return returned(
        conn.execute(
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
        ).fetchone()
    )


def takes_of(conn: Conn, script_id: str, stage: str | None = None) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM takes WHERE script_id = %s AND (%s::text IS NULL OR stage = %s)"
        " ORDER BY section_id, stage, take",
        (script_id, stage, stage),
    ).fetchall()


def take_of(
    conn: Conn, script_id: str, section_id: str, stage: str, take: int
) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM takes WHERE script_id = %s AND section_id = %s AND stage = %s AND take = %s",
        (script_id, section_id, stage, take),
    ).fetchone()


def take_by_id(conn: Conn, take_id: int) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM takes WHERE id = %s", (take_id,)).fetchone()
