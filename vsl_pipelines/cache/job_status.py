"""The latest status of each prediction, and per-script counts, cached in Redis for the UI/CLI.

Written beside the `jobs` table by whoever applies a webhook or poll; status never moves
backwards. Without `REDIS_URL` the cache is a no-op. Keys (under the prefix):
`job:{prediction_id}` (hash) and `script:{script_id}:status_counts` (hash status -> count).
"""

from __future__ import annotations

from typing import Any, Protocol

import redis

from vsl_pipelines.cache.clients import shared_client
from vsl_pipelines.domain.job_status import STATUS_RANK

DEFAULT_TTL_S = 86_400

_RANK_TABLE = ", ".join(f"[{status!r}] = {rank}" for status, rank in STATUS_RANK.items())

# KEYS[1]: the prediction's hash; KEYS[2]: its script's counts.
# ARGV: status, script_id, job_id, ttl_s. Returns 1 when recorded, 0 when not newer.
_RECORD_LUA = f"""
local RANK = {{{_RANK_TABLE}}}
local status, script_id, job_id, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local old = redis.call('HMGET', KEYS[1], 'status', 'script_id')
if old[1] then
  if old[2] ~= script_id then
    return redis.error_reply('script mismatch: prediction belongs to script ' .. tostring(old[2]))
  end
  if RANK[status] <= (RANK[old[1]] or 0) then
    return 0
  end
  if redis.call('HINCRBY', KEYS[2], old[1], -1) <= 0 then
    redis.call('HDEL', KEYS[2], old[1])
  end
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'status', status, 'script_id', script_id, 'job_id', job_id,
  'updated_at', t[1] .. '.' .. string.format('%06d', tonumber(t[2])))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('HINCRBY', KEYS[2], status, 1)
redis.call('EXPIRE', KEYS[2], ttl)
return 1
"""


class JobStatusCache(Protocol):
    def record(
        self,
        prediction_id: str,
        status: str,
        *,
        script_id: str,
        job_id: int,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> bool:
        """Store `status` unless the cached one is as far or further; True when stored."""
        ...

    def get(self, prediction_id: str) -> dict[str, Any] | None: ...

    def script_counts(self, script_id: str) -> dict[str, int]: ...


class NullJobStatusCache:
    """No cache configured: records nothing, knows nothing."""

    def record(
        self,
        prediction_id: str,
        status: str,
        *,
        script_id: str,
        job_id: int,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> bool:
        return False

    def get(self, prediction_id: str) -> dict[str, Any] | None:
        return None

    def script_counts(self, script_id: str) -> dict[str, int]:
        return {}


class RedisJobStatusCache:
    """Compare-and-set of a prediction's status and its script's counts in one Lua script."""

    def __init__(
        self, url: str, prefix: str = "vsl:", *, client: redis.Redis | None = None
    ) -> None:
        self._prefix = prefix
        self._owns_client = client is None
        self._redis = client or redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=10.0, socket_connect_timeout=5.0
        )
        self._record = self._redis.register_script(_RECORD_LUA)

    def job_key(self, prediction_id: str) -> str:
        return f"{self._prefix}job:{prediction_id}"

    def counts_key(self, script_id: str) -> str:
        return f"{self._prefix}script:{script_id}:status_counts"

    def record(
        self,
        prediction_id: str,
        status: str,
        *,
        script_id: str,
        job_id: int,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> bool:
        """Store `status` unless the cached one is as far or further; True when stored.

        The counts expire `ttl_s` after the script's last change; a prediction whose own key
        expired before a late update is counted afresh (the cache is not the record of truth).
        """
        if status not in STATUS_RANK:
            raise ValueError(
                f"prediction {prediction_id}: unknown status {status!r}; known: {sorted(STATUS_RANK)}"
            )
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        try:
            stored = self._record(
                keys=[self.job_key(prediction_id), self.counts_key(script_id)],
                args=[status, script_id, job_id, int(ttl_s)],
            )
        except redis.ResponseError as exc:
            if "script mismatch" in str(exc):
                raise ValueError(
                    f"prediction {prediction_id} recorded for script {script_id!r}: {exc}"
                ) from None
            raise
        return bool(stored)

    def get(self, prediction_id: str) -> dict[str, Any] | None:
        """{"prediction_id", "status", "script_id", "job_id", "updated_at" (Redis time)}."""
        fields: dict[str, str] = self._redis.hgetall(self.job_key(prediction_id))  # type: ignore[assignment]
        if not fields:
            return None
        return {
            "prediction_id": prediction_id,
            "status": fields["status"],
            "script_id": fields["script_id"],
            "job_id": int(fields["job_id"]),
            "updated_at": float(fields["updated_at"]),
        }

    def script_counts(self, script_id: str) -> dict[str, int]:
        counts: dict[str, str] = self._redis.hgetall(self.counts_key(script_id))  # type: ignore[assignment]
        return {status: int(n) for status, n in counts.items() if int(n) > 0}

    def close(self) -> None:
        """Close the client if this cache made it (a shared one stays open)."""
        if self._owns_client:
            self._redis.close()


def job_status_cache_from_url(url: str | None, *, prefix: str = "vsl:") -> JobStatusCache:
    """The Redis cache on the process's shared client when `REDIS_URL` is set, else the no-op
    one."""
    if not url:
        return NullJobStatusCache()
    return RedisJobStatusCache(url, prefix, client=shared_client(url, decode_responses=True))
