"""The `api_keys` table: integrators' keys, kept as SHA-256 digests, revoked but never deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vsl_pipelines.db.connection import Conn, fetch_all, fetch_one

_PUBLIC = (
    "id, name, user_id, rate_per_minute, prefix, created_at, last_used_at, revoked_at,"
    " workspace_id, role"
)


@dataclass(frozen=True)
class KeyRow:
    """What may be shown of a key: never the key, nor its digest."""

    id: int
    name: str
    user_id: str | None
    rate_per_minute: int
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    workspace_id: int
    role: str


@dataclass(frozen=True)
class StoredKey(KeyRow):
    """A key with its digest, to compare in constant time or to forget from a cache."""

    key_sha256: bytes


class KeyNameTaken(ValueError):
    pass


def insert_key(
    conn: Conn,
    *,
    name: str,
    workspace_id: int,
    role: str,
    user_id: str | None,
    rate_per_minute: int,
    prefix: str,
    digest: bytes,
) -> KeyRow:
    row = fetch_one(
        conn,
        KeyRow,
        "INSERT INTO api_keys (name, workspace_id, role, user_id, rate_per_minute, prefix,"
        f" key_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING"
        f" RETURNING {_PUBLIC}",
        (name, workspace_id, role, user_id, rate_per_minute, prefix, digest),
    )
    if row is None:
        raise KeyNameTaken(f"a key named {name!r} exists; pick another name or revoke it first")
    return row


def key_by_digest(conn: Conn, digest: bytes) -> StoredKey | None:
    """The live key with this digest (with the digest, for a constant-time comparison)."""
    return fetch_one(
        conn,
        StoredKey,
        f"SELECT {_PUBLIC}, key_sha256 FROM api_keys WHERE key_sha256 = %s AND revoked_at IS NULL",
        (digest,),
    )


def touch_key(conn: Conn, key_id: int) -> None:
    conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key_id,))


def list_keys(conn: Conn, workspace_id: int | None = None) -> list[KeyRow]:
    """Every key, or a workspace's."""
    return fetch_all(
        conn,
        KeyRow,
        f"SELECT {_PUBLIC} FROM api_keys WHERE (%s::bigint IS NULL OR workspace_id = %s)"
        " ORDER BY created_at, id",
        (workspace_id, workspace_id),
    )


def revoke_key(conn: Conn, name: str, workspace_id: int | None = None) -> StoredKey | None:
    """Revoke the named live key (of the workspace, when given); None when there is none."""
    return fetch_one(
        conn,
        StoredKey,
        "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
        f" AND (%s::bigint IS NULL OR workspace_id = %s) RETURNING {_PUBLIC}, key_sha256",
        (name, workspace_id, workspace_id),
    )
