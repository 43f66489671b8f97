"""`GET /api/status/{jobId}` with a stored key, in one Redis round trip.

A status read used to make three: the verified key from the key cache, a permit from the key's
rate, the job's document. All three Redis keys follow from the request alone (the key's digest
names its cache entry and its rate bucket, the path names the document), so one Lua script does
them together: no entry, and the caller verifies the key the long way (PostgreSQL, which fills
the cache); over its rate, no document is read; else the document, or nothing when Redis does
not hold it (the caller reads the layers below). Redis being down is a miss, as everywhere.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from vsl_pipelines.cache.key_cache import KeyCache
from vsl_pipelines.cache.key_rates import WINDOW_S, RedisKeyRates
from vsl_pipelines.cache.rate_limit import SLIDING_WINDOW_TAKE
from vsl_pipelines.job_status.redis_documents import RedisStatusDocuments
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)

# KEYS: the key's cache entry, its rate bucket, the job's document. ARGV: window (us), a unique
# member. {0} without an entry; else {1, entry, granted, wait (us), document or nil}.
_WARM_READ_LUA = (
    SLIDING_WINDOW_TAKE
    + """
local entry = redis.call('GET', KEYS[1])
if not entry then
  return {0}
end
local limit = tonumber(cjson.decode(entry)['rate_per_minute'])
local taken = take(KEYS[2], limit, tonumber(ARGV[1]), ARGV[2])
if taken[1] == 0 then
  return {1, entry, 0, taken[2]}
end
return {1, entry, 1, 0, redis.call('HGET', KEYS[3], 'doc')}
"""
)


@dataclass(frozen=True)
class WarmRead:
    """A verified key's cache entry; when it was within its rate, the job's document if Redis
    holds it; else the seconds until its next request would be."""

    key_entry: dict[str, Any]
    wait_s: float | None = None
    document: dict[str, Any] | None = None


class WarmStatusRead:
    """The key check, its rate and the document in one script, over the same Redis keys the
    key cache, the key rates and the status layer use one by one."""

    def __init__(
        self, keys: KeyCache, rates: RedisKeyRates, documents: RedisStatusDocuments
    ) -> None:
        self._keys = keys
        self._rates = rates
        self._documents = documents
        self._script = documents.client.register_script(_WARM_READ_LUA)

    def read(self, key_digest: bytes, job_id: str) -> WarmRead | None:
        """None when the key is not cached (or Redis is down): verify it the long way."""
        try:
            reply = self._script(
                keys=[
                    self._keys.entry_key(key_digest),
                    self._rates.bucket(key_digest.hex()),
                    self._documents.key(job_id),
                ],
                args=[round(WINDOW_S * 1_000_000), uuid.uuid4().hex],
            )
        except redis.RedisError as exc:
            log.warning("status cache unavailable: %s", type(exc).__name__)
            return None
        if not reply[0]:
            return None
        entry: dict[str, Any] = json.loads(reply[1])
        if not reply[2]:
            return WarmRead(entry, wait_s=max(int(reply[3]) / 1_000_000, 0.001))
        raw = reply[4]
        return WarmRead(entry, document=json.loads(raw) if raw is not None else None)


def warm_status_read(
    keys: KeyCache | None, rates: object, documents: object
) -> WarmStatusRead | None:
    """The one-trip read when every part of it lives in Redis, else None."""
    if (
        keys is None
        or not isinstance(rates, RedisKeyRates)
        or not isinstance(documents, RedisStatusDocuments)
    ):
        return None
    return WarmStatusRead(keys, rates, documents)
