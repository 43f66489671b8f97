"""A Replicate request budget shared by every process (Dagster runs, sensors, the service).

Permits come from a sliding-window log in Redis, checked and taken in one Lua script on
Redis's clock; without `REDIS_URL` the limiter is a no-op.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

from vsl_pipelines.cache.clients import shared_client

# Replicate's per-account limits: (permits, window in seconds).
REPLICATE_LIMITS: dict[str, tuple[int, float]] = {"create": (600, 60.0), "read": (3000, 60.0)}

# `take(bucket, limit, window_us, member)`: one permit from the bucket's log, a sorted set of
# grant times in microseconds of Redis's clock; {1, 0} when granted, else {0, wait in us}.
# Scripts that also do other work in the same round trip start with it (`job_status.warm_read`).
SLIDING_WINDOW_TAKE = """
local function take(bucket, limit, window, member)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('ZREMRANGEBYSCORE', bucket, '-inf', now - window)
  local used = redis.call('ZCARD', bucket)
  if used < limit then
    redis.call('ZADD', bucket, now, member)
    redis.call('PEXPIRE', bucket, math.ceil(window / 1000) + 1000)
    return {1, 0}
  end
  local freeing = redis.call('ZRANGE', bucket, used - limit, used - limit, 'WITHSCORES')
  return {0, tonumber(freeing[2]) + window - now}
end
"""

# KEYS[1]: the bucket's log. ARGV: limit, window (us), a unique member.
SLIDING_WINDOW_LUA = (
    SLIDING_WINDOW_TAKE + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])\n"
)


class RateLimitTimeout(TimeoutError):
    """No permit of `bucket` became available within the caller's timeout."""

    def __init__(self, bucket: str, timeout_s: float) -> None:
        super().__init__(f"no permit in rate-limit bucket {bucket!r} within {timeout_s:g} s")
        self.bucket = bucket
        self.timeout_s = timeout_s


class RateLimiter(Protocol):
    def acquire(self, bucket: str, *, timeout_s: float) -> float:
        """Block until `bucket` grants a permit; return the seconds waited."""
        ...


class NullRateLimiter:
    """No shared budget configured: every permit is granted at once."""

    def acquire(self, bucket: str, *, timeout_s: float) -> float:
        return 0.0


class RedisRateLimiter:
    """At most `limit` permits per bucket in any `window_s` seconds, across all processes."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "vsl:",
        limits: Mapping[str, tuple[int, float]] = REPLICATE_LIMITS,
        sleep: Callable[[float], None] = time.sleep,
        client: redis.Redis | None = None,
    ) -> None:
        for bucket, (limit, window_s) in limits.items():
            if limit < 1 or window_s <= 0:
                raise ValueError(
                    f"rate limit {bucket!r} needs limit >= 1 and window_s > 0, got {(limit, window_s)}"
                )
        import redis  # here: a process without REDIS_URL never imports the client

        self._limits = dict(limits)
        self._prefix = prefix
        self._sleep = sleep
        self._owns_client = client is None
        self._redis = client or redis.Redis.from_url(
            url, socket_timeout=10.0, socket_connect_timeout=5.0
        )
        self._take_permit = self._redis.register_script(SLIDING_WINDOW_LUA)

    def key(self, bucket: str) -> str:
        return f"{self._prefix}rate:{bucket}"

    def acquire(self, bucket: str, *, timeout_s: float) -> float:
        """Block until `bucket` grants a permit; return the seconds waited.

        Raises `RateLimitTimeout` as soon as the earliest possible permit lies beyond the timeout.
        """
        try:
            limit, window_s = self._limits[bucket]
        except KeyError:
            raise ValueError(
                f"unknown rate-limit bucket {bucket!r}; known: {sorted(self._limits)}"
            ) from None
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            granted, wait_us = self._take_permit(
                keys=[self.key(bucket)],
                args=[limit, round(window_s * 1_000_000), uuid.uuid4().hex],
            )
            now = time.monotonic()
            if granted:
                return now - started
            # Waiters freed by the same expiring permit would otherwise all retry at once.
            wait_s = int(wait_us) / 1_000_000 + random.uniform(0, min(0.01, window_s / limit))
            if now + wait_s > deadline:
                raise RateLimitTimeout(bucket, timeout_s)
            self._sleep(wait_s)

    def close(self) -> None:
        """Close the client if this limiter made it (a shared one stays open)."""
        if self._owns_client:
            self._redis.close()


def rate_limiter_from_url(url: str | None, *, prefix: str = "vsl:") -> RateLimiter:
    """The Redis limiter on the process's shared client when `REDIS_URL` is set, else the
    no-op one."""
    if not url:
        return NullRateLimiter()
    return RedisRateLimiter(url, prefix=prefix, client=shared_client(url))
