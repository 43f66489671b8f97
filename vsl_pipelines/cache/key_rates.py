"""Per-key request rates of the integrator API: N requests per minute per key, shared by every
service process through Redis (the same sliding-window script as Replicate's budget), or
counted in this process when there is no Redis. A key's bucket is named by its digest, which
the request itself carries, so the status read can take from it in the same round trip as it
reads the key (`job_status.warm_read`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Protocol

from vsl_pipelines.cache.clients import shared_client
from vsl_pipelines.cache.rate_limit import SLIDING_WINDOW_LUA

WINDOW_S = 60.0


class KeyRates(Protocol):
    def take(self, key: str, per_minute: int) -> float | None:
        """Count one request of `key`: None when within its rate, else the seconds until the
        next request would be."""
        ...


class RedisKeyRates:
    def __init__(self, url: str, prefix: str = "vsl:") -> None:
        self._prefix = prefix
        self._take = shared_client(url).register_script(SLIDING_WINDOW_LUA)

    def bucket(self, key: str) -> str:
        """The Redis key of `key`'s log (`job_status.warm_read` takes from it too)."""
        return f"{self._prefix}api-key-rate:{key}"

    def take(self, key: str, per_minute: int) -> float | None:
        granted, wait_us = self._take(
            keys=[self.bucket(key)],
            args=[per_minute, round(WINDOW_S * 1_000_000), uuid.uuid4().hex],
        )
        return None if granted else max(int(wait_us) / 1_000_000, 0.001)


class LocalKeyRates:
    """The same sliding window, in memory: each service process counts its own requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: dict[str, deque[float]] = {}

    def take(self, key: str, per_minute: int) -> float | None:
        now = time.monotonic()
        with self._lock:
            log = self._log.setdefault(key, deque())
            while log and log[0] <= now - WINDOW_S:
                log.popleft()
            if len(log) < per_minute:
                log.append(now)
                return None
            return max(log[len(log) - per_minute] + WINDOW_S - now, 0.001)


def key_rates_from_url(url: str | None, *, prefix: str = "vsl:") -> KeyRates:
    return RedisKeyRates(url, prefix) if url else LocalKeyRates()
