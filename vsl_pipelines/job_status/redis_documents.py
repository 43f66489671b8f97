"""Job status documents in Redis: the first layer of `GET /api/status/{jobId}`.

One hash per job, `{prefix}status:{jobId}` = {rank, doc}; a Lua compare-and-set replaces a
document only with one of a higher rank (or the same rank below final), so a late writer never
moves a job backwards. Final documents live a day, others a few minutes (each change rewrites
them). Redis being down is a miss, never an error: the caller reads the next layer.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from vsl_pipelines.cache.clients import shared_client
from vsl_pipelines.domain.job_document import FINAL, PUBLIC_RANK, rank
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)

FINAL_TTL_S = 86_400
ACTIVE_TTL_S = 300
_FINAL_RANK = max(PUBLIC_RANK.values())

# KEYS[1]: the job's hash. ARGV: rank, document, ttl_s, final rank. 1 when stored, 0 when not.
_PUT_LUA = """
local old = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
local new, final = tonumber(ARGV[1]), tonumber(ARGV[4])
if old > new or (old == new and new >= final) then
  return 0
end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'doc', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class RedisStatusDocuments:
    """Get and compare-and-set job documents; every Redis failure is logged and passed over."""

    layer = "redis"

    def __init__(self, client: redis.Redis, prefix: str = "vsl:") -> None:
        self._redis = client
        self._prefix = prefix
        self._put = client.register_script(_PUT_LUA)

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def key(self, job_id: str) -> str:
        return f"{self._prefix}status:{job_id}"

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            raw = self._redis.hget(self.key(job_id), "doc")
        except redis.RedisError as exc:
            log.warning(
                "status cache unavailable: %s", type(exc).__name__, extra={"job_id": job_id}
            )
            return None
        if raw is None:
            return None
        document: dict[str, Any] = json.loads(raw)
        return document

    def put(self, document: dict[str, Any]) -> bool:
        """Store unless Redis holds a newer document; False when not stored (or Redis is down)."""
        ttl = FINAL_TTL_S if document["status"] in FINAL else ACTIVE_TTL_S
        try:
            stored = self._put(
                keys=[self.key(document["jobId"])],
                args=[rank(document), json.dumps(document), ttl, _FINAL_RANK],
            )
        except redis.RedisError as exc:
            log.warning(
                "status cache not written: %s",
                type(exc).__name__,
                extra={"job_id": document["jobId"]},
            )
            return False
        return bool(stored)


def status_documents_from_url(url: str | None, prefix: str = "vsl:") -> RedisStatusDocuments | None:
    """The Redis layer on the process's shared client, or None without `REDIS_URL`."""
    if not url:
        return None
    return RedisStatusDocuments(shared_client(url, decode_responses=True), prefix)
