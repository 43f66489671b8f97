"""One Redis client per URL per process, shared by the rate limiter and the job status cache.

Sensors build their helpers at every tick; sharing the client (and its connection pool) keeps
that from opening a new connection to Redis each time. A forked child gets its own client.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

_clients: dict[tuple[int, str, bool], redis.Redis] = {}
_lock = threading.Lock()


def shared_client(url: str, *, decode_responses: bool = False) -> redis.Redis:
    """The process's client for `url` (bytes or decoded str replies), created on first use."""
    import redis  # here: a process without REDIS_URL never imports the client

    key = (os.getpid(), url, decode_responses)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = redis.Redis.from_url(
                url,
                decode_responses=decode_responses,
                socket_timeout=10.0,
                socket_connect_timeout=5.0,
                health_check_interval=30,
            )
            _clients[key] = client
        return client
