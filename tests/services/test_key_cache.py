"""Stored keys verified once from PostgreSQL, then from Redis; revocation clears the entry."""

from __future__ import annotations

import redis

from vsl_pipelines.cache.key_cache import KeyCache
from vsl_pipelines.db.database import Database
from vsl_pipelines.services.keys import create_key, digest, revoke_key, verify_key

NO_DATABASE = "postgresql://127.0.0.1:1/none?connect_timeout=1"


def last_used(db: Database) -> object:
    with db.connect() as conn:
        row = conn.execute("SELECT last_used_at FROM api_keys").fetchone()
    assert row is not None
    return row["last_used_at"]


def test_a_verified_key_is_served_from_redis_until_revoked(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    cache = KeyCache(redis.Redis.from_url(redis_url), redis_prefix)
    _, key = create_key(db, "crm", user_id="user-1", rate_per_minute=50)
    first = verify_key(db, key, cache)
    assert first is not None and first.user_id == "user-1"
    touched = last_used(db)
    assert touched is not None
    # Cached: answered without the database (and last_used_at written at most once a minute).
    again = verify_key(NO_DATABASE, key, cache)
    assert again == first
    assert last_used(db) == touched
    assert cache.get(digest(key)) is not None
    # A wrong key is never taken from the cache.
    assert verify_key(db, key[:-1] + "x", cache) is None

    revoke_key(db, "crm", cache)
    assert cache.get(digest(key)) is None
    assert verify_key(db, key, cache) is None


def test_redis_down_falls_back_to_postgres(db: Database) -> None:
    cache = KeyCache(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5))
    _, key = create_key(db, "crm")
    assert verify_key(db, key, cache) is not None
    assert revoke_key(db, "crm", cache).name == "crm"
    assert verify_key(db, key, cache) is None
