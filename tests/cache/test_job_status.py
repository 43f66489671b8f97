from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from vsl_pipelines.cache import (
    NullJobStatusCache,
    RedisJobStatusCache,
    job_status_cache_from_url,
)


@pytest.fixture
def cache(redis_url: str, redis_prefix: str) -> RedisJobStatusCache:
    return RedisJobStatusCache(redis_url, redis_prefix)


def test_records_and_reads_a_prediction(cache: RedisJobStatusCache) -> None:
    assert cache.get("p1") is None

    assert cache.record("p1", "starting", script_id="s1", job_id=7)

    entry = cache.get("p1")
    assert entry is not None
    assert {k: entry[k] for k in ("prediction_id", "status", "script_id", "job_id")} == {
        "prediction_id": "p1",
        "status": "starting",
        "script_id": "s1",
        "job_id": 7,
    }
    assert entry["updated_at"] > 1.6e9
    assert cache.script_counts("s1") == {"starting": 1}


def test_status_never_moves_backwards(cache: RedisJobStatusCache) -> None:
    assert cache.record("p1", "succeeded", script_id="s1", job_id=1)

    assert not cache.record("p1", "processing", script_id="s1", job_id=1)
    assert not cache.record("p1", "starting", script_id="s1", job_id=1)
    assert not cache.record("p1", "failed", script_id="s1", job_id=1)  # same rank: first wins

    assert cache.get("p1")["status"] == "succeeded"  # type: ignore[index]
    assert cache.script_counts("s1") == {"succeeded": 1}


def test_duplicates_are_idempotent(cache: RedisJobStatusCache) -> None:
    assert cache.record("p1", "processing", script_id="s1", job_id=1)
    assert not cache.record("p1", "processing", script_id="s1", job_id=1)

    assert cache.script_counts("s1") == {"processing": 1}


def test_counts_follow_out_of_order_updates(cache: RedisJobStatusCache) -> None:
    updates = [
        ("p1", "succeeded"),
        ("p2", "processing"),
        ("p1", "processing"),
        ("p3", "processing"),
        ("p2", "starting"),
        ("p1", "starting"),
        ("p3", "failed"),
        ("p4", "failed"),
        ("p4", "succeeded"),
        ("p3", "expired"),
        ("p5", "starting"),
        ("p5", "canceled"),
    ]
    for prediction_id, status in updates:
        cache.record(prediction_id, status, script_id="s1", job_id=1)

    assert cache.script_counts("s1") == {
        "succeeded": 1,
        "processing": 1,
        "failed": 1,
        "expired": 1,
        "canceled": 1,
    }
    assert cache.script_counts("s2") == {}


def test_counts_are_kept_per_script(cache: RedisJobStatusCache) -> None:
    cache.record("a", "starting", script_id="s1", job_id=1)
    cache.record("b", "succeeded", script_id="s2", job_id=2)
    cache.record("a", "succeeded", script_id="s1", job_id=1)

    assert cache.script_counts("s1") == {"succeeded": 1}
    assert cache.script_counts("s2") == {"succeeded": 1}


def test_a_prediction_stays_with_its_script(cache: RedisJobStatusCache) -> None:
    cache.record("p1", "starting", script_id="s1", job_id=1)

    with pytest.raises(ValueError, match="s1"):
        cache.record("p1", "succeeded", script_id="s2", job_id=1)
    assert cache.script_counts("s2") == {}


def test_unknown_status_is_refused(cache: RedisJobStatusCache) -> None:
    with pytest.raises(ValueError, match="'done'"):
        cache.record("p1", "done", script_id="s1", job_id=1)


def test_concurrent_updates_keep_counts_consistent(cache: RedisJobStatusCache) -> None:
    # Each prediction's furthest status is unique, so the final state is known in any order.
    finals = {f"p{i}": ("succeeded", "failed", "expired", "processing")[i % 4] for i in range(60)}
    paths = {
        "succeeded": ["starting", "processing", "succeeded"],
        "failed": ["starting", "processing", "failed"],
        "expired": ["starting", "failed", "expired"],
        "processing": ["starting", "processing"],
    }
    updates = [(p, s) for p, final in finals.items() for s in paths[final]]

    def apply(seed: int) -> None:
        mine = updates[:]
        random.Random(seed).shuffle(mine)
        for prediction_id, status in mine:
            cache.record(prediction_id, status, script_id="s1", job_id=1)

    threads = [threading.Thread(target=apply, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert cache.script_counts("s1") == dict(Counter(finals.values()))
    assert all(cache.get(p)["status"] == final for p, final in finals.items())  # type: ignore[index]


def test_entries_expire(cache: RedisJobStatusCache) -> None:
    cache.record("p1", "starting", script_id="s1", job_id=1, ttl_s=100)

    assert 0 < cache._redis.ttl(cache.job_key("p1")) <= 100
    assert 0 < cache._redis.ttl(cache.counts_key("s1")) <= 100


def test_null_cache_records_nothing_and_never_fails() -> None:
    cache = NullJobStatusCache()

    assert not cache.record("p1", "succeeded", script_id="s1", job_id=1)
    assert not cache.record("p1", "not-a-status", script_id="s1", job_id=1, ttl_s=0)
    assert cache.get("p1") is None
    assert cache.script_counts("s1") == {}


def test_factory_picks_the_implementation(redis_url: str) -> None:
    assert isinstance(job_status_cache_from_url(None), NullJobStatusCache)
    assert isinstance(job_status_cache_from_url(redis_url), RedisJobStatusCache)
