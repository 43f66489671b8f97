from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

from vsl_pipelines.cache import (
    NullRateLimiter,
    RateLimitTimeout,
    RedisRateLimiter,
    rate_limiter_from_url,
)

LIMIT, WINDOW_S = 5, 1.0
# Grant times are taken by the caller after the script returns, so they trail Redis's clock
# by a little scheduling noise; a window this much shorter must still hold at most LIMIT.
NOISE_S = 0.1


def _limiter(url: str, prefix: str) -> RedisRateLimiter:
    return RedisRateLimiter(
        url, prefix=prefix, limits={"create": (LIMIT, WINDOW_S), "read": (2, 1.0)}
    )


def _assert_at_most_limit_per_window(grants: list[float]) -> None:
    grants = sorted(grants)
    for first, later in zip(grants, grants[LIMIT:], strict=False):
        assert later - first >= WINDOW_S - NOISE_S, (
            f"{LIMIT + 1} permits within {later - first:.3f} s: {grants}"
        )


def test_grants_exactly_the_limit_then_blocks_until_the_window_moves(
    redis_url: str, redis_prefix: str
) -> None:
    limiter = _limiter(redis_url, redis_prefix)
    started = time.monotonic()
    for _ in range(LIMIT):
        limiter.acquire("create", timeout_s=0)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("create", timeout_s=0)

    waited = limiter.acquire("create", timeout_s=5)

    assert time.monotonic() - started >= WINDOW_S * 0.99
    assert waited > 0.5


def test_buckets_are_independent(redis_url: str, redis_prefix: str) -> None:
    limiter = _limiter(redis_url, redis_prefix)
    for _ in range(LIMIT):
        limiter.acquire("create", timeout_s=0)

    limiter.acquire("read", timeout_s=0)
    limiter.acquire("read", timeout_s=0)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("read", timeout_s=0)


def test_limiters_with_the_same_prefix_share_the_budget(redis_url: str, redis_prefix: str) -> None:
    first, second = _limiter(redis_url, redis_prefix), _limiter(redis_url, redis_prefix)
    for _ in range(LIMIT):
        first.acquire("create", timeout_s=0)

    with pytest.raises(RateLimitTimeout):
        second.acquire("create", timeout_s=0)
    _limiter(redis_url, redis_prefix + "other:").acquire("create", timeout_s=0)


def test_timeout_names_the_bucket(redis_url: str, redis_prefix: str) -> None:
    limiter = _limiter(redis_url, redis_prefix)
    for _ in range(LIMIT):
        limiter.acquire("create", timeout_s=0)

    with pytest.raises(RateLimitTimeout, match="'create'") as caught:
        limiter.acquire("create", timeout_s=0.2)
    assert caught.value.bucket == "create"


def test_unknown_bucket_is_refused(redis_url: str, redis_prefix: str) -> None:
    with pytest.raises(ValueError, match="'upload'"):
        _limiter(redis_url, redis_prefix).acquire("upload", timeout_s=1)


def test_permits_expire_with_the_window(redis_url: str, redis_prefix: str) -> None:
    limiter = _limiter(redis_url, redis_prefix)
    limiter.acquire("create", timeout_s=0)

    ttl_ms = limiter._redis.pttl(limiter.key("create"))
    assert 0 < ttl_ms <= WINDOW_S * 1000 + 1000


def test_threads_share_one_limiter(redis_url: str, redis_prefix: str) -> None:
    limiter = _limiter(redis_url, redis_prefix)
    grants: list[float] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        for _ in range(n):
            limiter.acquire("create", timeout_s=10)
            with lock:
                grants.append(time.time())

    threads = [threading.Thread(target=take, args=(3,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(grants) == 12
    _assert_at_most_limit_per_window(grants)


def _acquire_in_process(url: str, prefix: str, n: int, go: Any, results: Any) -> None:
    limiter = _limiter(url, prefix)
    go.wait(10)
    grants = []
    for _ in range(n):
        limiter.acquire("create", timeout_s=15)
        grants.append(time.time())
    results.put(grants)


def test_processes_never_exceed_the_limit_together(redis_url: str, redis_prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_acquire_in_process, args=(redis_url, redis_prefix, 5, go, results))
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    time.sleep(0.5)  # let every process import and connect, so they start together
    go.set()
    grants = [t for _ in workers for t in results.get(timeout=25)]
    for w in workers:
        w.join(5)
        assert w.exitcode == 0

    assert len(grants) == 20
    _assert_at_most_limit_per_window(grants)
    assert max(grants) - min(grants) >= 3 * (WINDOW_S - NOISE_S)


def test_null_limiter_grants_everything_at_once() -> None:
    limiter = NullRateLimiter()
    assert all(limiter.acquire("anything", timeout_s=0) == 0.0 for _ in range(10_000))


def test_factory_picks_the_implementation(redis_url: str) -> None:
    assert isinstance(rate_limiter_from_url(None), NullRateLimiter)
    assert isinstance(rate_limiter_from_url(""), NullRateLimiter)
    assert isinstance(rate_limiter_from_url(redis_url), RedisRateLimiter)
