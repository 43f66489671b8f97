"""A prediction's status read through the Redis cache, PostgreSQL behind it."""

from __future__ import annotations

from tests.fixtures.scripts import record_job
from vsl_pipelines.cache import RedisJobStatusCache
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.connection import connect
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.status import prediction_status


def created_job(database_url: str, prediction_id: str) -> int:
    with connect(database_url) as conn:
        return record_job(conn, prediction_id)


def test_a_miss_reads_postgres_and_fills_the_cache(
    database_url: str, stored_script: Script, redis_url: str, redis_prefix: str
) -> None:
    cache = RedisJobStatusCache(redis_url, redis_prefix)
    job_id = created_job(database_url, "pred-1")

    first = prediction_status(database_url, cache, "pred-1")
    assert first is not None
    assert (first["source"], first["status"], first["job_id"]) == ("database", "starting", job_id)
    second = prediction_status(database_url, cache, "pred-1")
    assert second is not None and (second["source"], second["status"]) == ("cache", "starting")

    # The sensor applies a webhook to the table and the cache together; reads follow it.
    with connect(database_url) as conn:
        job_rows.apply_prediction(conn, {"id": "pred-1", "status": "succeeded"})
    cache.record("pred-1", "succeeded", script_id="spring-launch", job_id=job_id)
    third = prediction_status(database_url, cache, "pred-1")
    assert third is not None and (third["source"], third["status"]) == ("cache", "succeeded")
    assert cache.script_counts("spring-launch") == {"succeeded": 1}


def test_an_unknown_prediction_is_none_and_caches_nothing(
    database_url: str, stored_script: Script, redis_url: str, redis_prefix: str
) -> None:
    cache = RedisJobStatusCache(redis_url, redis_prefix)
    assert prediction_status(database_url, cache, "never-created") is None
    assert cache.get("never-created") is None
