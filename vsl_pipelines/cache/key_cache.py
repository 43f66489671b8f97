"""Verified API keys cached in Redis, so a request with a stored key does not query PostgreSQL
each time (the status read's warm path touches no database at all).

An entry is keyed by the key's SHA-256 (never the key), holds its id, name, user, rate, workspace and role, and
lives `TTL_S`; `vsl keys revoke` deletes it, so with the same `REDIS_URL` a revocation holds at
the next request, and within `TTL_S` otherwise. Redis down means PostgreSQL answers (a miss),
never a refusal.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from vsl_pipelines.cache.clients import shared_client
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)

TTL_S = 30


class KeyCache:
    def __init__(self, client: redis.Redis, prefix: str = "vsl:") -> None:
        self._redis = client
        self._prefix = prefix

    def entry_key(self, digest: bytes) -> str:
        """The Redis key of the entry for `digest` (`job_status.warm_read` reads it too)."""
        return f"{self._prefix}api-key-v2:{digest.hex()}"  # v2: with workspace and role

    def get(self, digest: bytes) -> dict[str, Any] | None:
        try:
            raw = self._redis.get(self.entry_key(digest))
        except redis.RedisError as exc:
            log.warning("key cache unavailable: %s", type(exc).__name__)
            return None
        if raw is None:
            return None
        entry: dict[str, Any] = json.loads(raw)
        return entry

    def put(self, digest: bytes, entry: dict[str, Any]) -> None:
        try:
            self._redis.set(self.entry_key(digest), json.dumps(entry), ex=TTL_S)
        except redis.RedisError as exc:
            log.warning("key cache not written: %s", type(exc).__name__)

    def forget(self, digest: bytes) -> bool:
        """Drop the entry; False when Redis could not be reached (it then expires by itself)."""
        try:
            self._redis.delete(self.entry_key(digest))
        except redis.RedisError as exc:
            log.warning(
                "key cache not cleared: %s; the entry expires within %d s",
                type(exc).__name__,
                TTL_S,
            )
            return False
        return True


def key_cache_from_url(url: str | None, prefix: str = "vsl:") -> KeyCache | None:
    return KeyCache(shared_client(url), prefix) if url else None
