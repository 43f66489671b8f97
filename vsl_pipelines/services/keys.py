"""Integrators' API keys: made once and shown once, kept only as digests, checked in constant
time, revoked by name. Each key carries a name, its workspace and role, the user it acts for
and a rate per minute.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from vsl_pipelines.cache.key_cache import KeyCache
from vsl_pipelines.db import api_keys as key_rows
from vsl_pipelines.db import audit
from vsl_pipelines.db.api_keys import KeyRow
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import WorkspaceNotFound, workspace_by_slug
from vsl_pipelines.domain.roles import DEFAULT_WORKSPACE, OPERATOR, Role

KEY_PREFIX = "vsl_"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_RATE_PER_MINUTE = 100_000


class KeyRefused(ValueError):
    """A key request that cannot be honoured (bad name or rate, unknown key); safe to show."""


@dataclass(frozen=True)
class ApiKey:
    """A verified key: who it is, where and as what it acts, how fast it may go. Never holds
    the key itself."""

    id: int
    name: str
    user_id: str | None
    rate_per_minute: int
    workspace_id: int
    role: Role


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def parse_rate(text: str) -> int:
    """`120/minute`, `120/min` or `120` -> 120 (requests per minute)."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*(?:/\s*(?:minute|min|m))?\s*", text)
    if match is None:
        raise KeyRefused(f"rate {text!r}: give requests per minute, e.g. 120/minute")
    rate = int(match.group(1))
    if not 1 <= rate <= MAX_RATE_PER_MINUTE:
        raise KeyRefused(f"rate {rate}/minute: must be between 1 and {MAX_RATE_PER_MINUTE}")
    return rate


def create_key(
    db: Database,
    name: str,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    role: Role = Role.WRITER,
    user_id: str | None = None,
    rate_per_minute: int = 60,
    actor: str = OPERATOR,
) -> tuple[KeyRow, str]:
    """Store a new key's digest in a workspace (by slug) with a role; return its public row
    and the key (shown this once only). A key made without them is a writer of `default`."""
    if NAME.fullmatch(name) is None:
        raise KeyRefused(
            f"name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if user_id is not None and (not user_id or len(user_id) > 128 or not user_id.isprintable()):
        raise KeyRefused("user: 1-128 printable characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.connect() as conn:
        try:
            workspace_id = workspace_by_slug(conn, workspace).id
        except WorkspaceNotFound as exc:
            raise KeyRefused(str(exc)) from None
        row = key_rows.insert_key(
            conn,
            name=name,
            workspace_id=workspace_id,
            role=role.value,
            user_id=user_id,
            rate_per_minute=rate_per_minute,
            prefix=key[: len(KEY_PREFIX) + 6],
            digest=digest(key),
        )
        audit.record(
            conn,
            workspace_id,
            actor,
            "key.created",
            f"key:{name}",
            {"role": role.value, "user_id": user_id, "rate_per_minute": rate_per_minute},
        )
    return row, key


def verify_key(db: Database, presented: str, cache: KeyCache | None = None) -> ApiKey | None:
    """The live key matching `presented`, or None; from `cache` when it holds the key."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > 256:
        return None
    return verify_digest(db, digest(presented), cache)


def verify_digest(db: Database, wanted: bytes, cache: KeyCache | None = None) -> ApiKey | None:
    """The live key whose SHA-256 digest is `wanted`, or None (a studio session holds the
    digest, never the key, so a revoked key ends its sessions)."""
    cached = cache.get(wanted) if cache is not None else None
    if cached is not None:
        return cached_key(db, wanted, cached)
    with db.connect() as conn:
        row = key_rows.key_by_digest(conn, wanted)
        if row is None or not hmac.compare_digest(bytes(row.key_sha256), wanted):
            return None
        if _due_for_touch(wanted):
            key_rows.touch_key(conn, row.id)
    key = ApiKey(
        row.id, row.name, row.user_id, row.rate_per_minute, row.workspace_id, Role(row.role)
    )
    if cache is not None:
        cache.put(wanted, asdict(key))
    return key


def cached_key(db: Database, wanted: bytes, entry: dict[str, Any]) -> ApiKey:
    """The key a cache entry holds (read by `verify_digest` or the one-trip status read);
    its `last_used_at` written when due."""
    key = ApiKey(**{**entry, "role": Role(entry["role"])})
    if _due_for_touch(wanted):
        with db.connect() as conn:
            key_rows.touch_key(conn, key.id)
    return key


TOUCH_EVERY_S = 60.0
_last_touched: dict[bytes, float] = {}


def _due_for_touch(key_digest: bytes) -> bool:
    """True at most once per `TOUCH_EVERY_S` per key (by digest: unique across databases) in
    this process: `last_used_at` is for people looking at `vsl keys list`, not worth a write
    per request."""
    now = time.monotonic()
    last = _last_touched.get(key_digest)
    if last is not None and now - last < TOUCH_EVERY_S:
        return False
    _last_touched[key_digest] = now
    return True


def list_keys(db: Database, workspace_id: int | None = None) -> list[KeyRow]:
    """Every key, or a workspace's."""
    with db.connect() as conn:
        return key_rows.list_keys(conn, workspace_id)


def revoke_key(
    db: Database,
    name: str,
    cache: KeyCache | None = None,
    workspace_id: int | None = None,
    actor: str = OPERATOR,
) -> KeyRow:
    """Revoke the named key (of the workspace, when given), and drop it from `cache` so the
    next request is refused."""
    with db.connect() as conn:
        row = key_rows.revoke_key(conn, name, workspace_id)
        if row is not None:
            audit.record(conn, row.workspace_id, actor, "key.revoked", f"key:{name}")
    if row is None:
        raise KeyRefused(f"no live key named {name!r}; `vsl keys list` shows them")
    if cache is not None:
        cache.forget(bytes(row.key_sha256))
    return shown(row)


def shown(row: KeyRow) -> KeyRow:
    """The key's public fields only (a StoredKey loses its digest)."""
    return KeyRow(**{f.name: getattr(row, f.name) for f in fields(KeyRow)})
