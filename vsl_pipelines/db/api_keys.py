"""The `api_keys` table: integrators' keys, kept as SHA-256 digests, revoked but never deleted."""

from __future__ import annotations

from typing import Any

from vsl_pipelines.db.connection import Conn

_PUBLIC = "id, name, user_id, rate_per_minute, prefix, created_at, last_used_at, revoked_at"


class KeyNameTaken(ValueError):
    pass


def insert_key(
    conn: Conn, *, name: str, user_id: str | None, rate_per_minute: int, prefix: str, digest: bytes
) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO api_keys (name, user_id, rate_per_minute, prefix, key_sha256)"
        f" VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING {_PUBLIC}",
        (name, user_id, rate_per_minute, prefix, digest),
    ).fetchone()
    if row is None:
        raise KeyNameTaken(f"a key named {name!r} exists; pick another name or revoke it first")
    return row


def key_by_digest(conn: Conn, digest: bytes) -> dict[str, Any] | None:
    """The live key with this digest (with the digest, for a constant-time comparison)."""
    return conn.execute(
        f"SELECT {_PUBLIC}, key_sha256 FROM api_keys WHERE key_sha256 = %s AND revoked_at IS NULL",
        (digest,),
    ).fetchone()


def touch_key(conn: Conn, key_id: int) -> None:
    conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key_id,))


def list_keys(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(f"SELECT {_PUBLIC} FROM api_keys ORDER BY created_at, id").fetchall()


def revoke_key(conn: Conn, name: str) -> dict[str, Any] | None:
    """Revoke the named live key (its public fields and digest); None when there is none."""
    return conn.execute(
        f"UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
        f" RETURNING {_PUBLIC}, key_sha256",
        (name,),
    ).fetchone()
