"""Per-key request rates: in Redis (shared by processes) and in one process without Redis."""

from __future__ import annotations

from vsl_pipelines.cache.key_rates import LocalKeyRates, RedisKeyRates


def test_redis_rates_are_shared_and_say_when_to_retry(redis_url: str, redis_prefix: str) -> None:
    first, second = RedisKeyRates(redis_url, redis_prefix), RedisKeyRates(redis_url, redis_prefix)
    outcomes = [(first if i % 2 else second).take("k1", 5) for i in range(7)]
    assert outcomes[:5] == [None] * 5, "two service processes share one budget"
    assert all(wait is not None and 0 < wait <= 60 for wait in outcomes[5:])
    assert first.take("k2", 5) is None, "each key has its own budget"


def test_local_rates_count_in_the_process() -> None:
    rates = LocalKeyRates()
    assert [rates.take("k", 3) for _ in range(3)] == [None, None, None]
    wait = rates.take("k", 3)
    assert wait is not None and 59 < wait <= 60
    assert rates.take("other", 3) is None
