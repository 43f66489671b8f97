"""A job's status through its layers: Redis, the DynamoDB jobs table (moto), PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.fixtures.aws import aws_client
from tests.fixtures.scripts import record_job
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.job_status.dynamodb_table import DynamoJobsTable, create_jobs_table
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.redis_documents import RedisStatusDocuments


@pytest.fixture
def jobs_table(moto_server: str) -> Iterator[DynamoJobsTable]:
    client = aws_client("dynamodb", moto_server)
    name = f"vsl-jobs-{uuid.uuid4().hex[:12]}"
    create_jobs_table(client, name)
    create_jobs_table(client, name)  # idempotent
    yield DynamoJobsTable(name, client=client)
    client.delete_table(TableName=name)


@pytest.fixture
def cache(redis_url: str, redis_prefix: str) -> RedisStatusDocuments:
    """The Redis layer, under this test's key prefix."""
    return RedisStatusDocuments(
        redis.Redis.from_url(redis_url, decode_responses=True), redis_prefix
    )


def public_id(db: Database, job_id: int) -> str:
    with db.connect() as conn:
        row = conn.execute("SELECT public_id FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return str(row["public_id"])


def new_job(db: Database, prediction: str, status: str = "starting") -> tuple[int, str]:
    with db.connect() as conn:
        job_id = record_job(conn, prediction, status)
    return job_id, public_id(db, job_id)


def test_each_layer_answers_and_fills_the_ones_above(
    db: Database,
    stored_script: Script,
    cache: RedisStatusDocuments,
    jobs_table: DynamoJobsTable,
) -> None:
    layers = JobStatusLayers(db, [cache, jobs_table])
    job_id, jid = new_job(db, "pred-1")

    document, source = layers.read(jid)
    assert source == "database"
    assert document is not None
    assert (document["jobId"], document["status"], document["mediaType"]) == (
        jid,
        "pending",
        "image",
    )
    assert (document["scriptId"], document["sectionId"], document["modelId"]) == (
        "spring-launch",
        "hook",
        "flux-schnell",
    )
    assert jobs_table.get(jid) == document and cache.get(jid) == document

    assert layers.read(jid) == (document, "redis")
    cache._redis.delete(cache.key(jid))
    assert layers.read(jid) == (document, "dynamodb")
    assert cache.get(jid) == document, "the DynamoDB answer refilled Redis"

    # A webhook applied and published: every layer follows.
    with db.connect() as conn:
        job_rows.apply_prediction(conn, {"id": "pred-1", "status": "processing"})
    layers.publish([job_id])
    moved, source = layers.read(jid)
    assert source == "redis" and moved is not None and moved["status"] == "processing"
    assert jobs_table.get(jid) == moved


def test_no_layer_moves_a_job_backwards(
    db: Database,
    stored_script: Script,
    cache: RedisStatusDocuments,
    jobs_table: DynamoJobsTable,
) -> None:
    _, jid = new_job(db, "pred-2")
    base = JobStatusLayers(db).read(jid)[0]
    assert base is not None
    failed = {**base, "status": "failed", "error": "boom"}
    processing = {**base, "status": "processing"}
    completed = {**base, "status": "completed"}
    for layer in (cache, jobs_table):
        assert layer.put(base) is True
        assert layer.put(base) is True, "the same rank below final may be rewritten"
        assert layer.put(failed) is True
        assert layer.put(processing) is False, "a late processing never replaces failed"
        assert layer.put(completed) is False, "the first final status wins"
        assert layer.get(jid) == failed


def test_a_stopped_redis_answers_from_the_next_layer(
    db: Database,
    stored_script: Script,
    private_redis_url: str,
    jobs_table: DynamoJobsTable,
) -> None:
    client = redis.Redis.from_url(private_redis_url, decode_responses=True, socket_timeout=2)
    layers = JobStatusLayers(db, [RedisStatusDocuments(client), jobs_table])
    job_id, jid = new_job(db, "pred-3")
    assert layers.read(jid)[1] == "database"
    assert layers.read(jid)[1] == "redis"

    redis.Redis.from_url(private_redis_url).shutdown(nosave=True)
    started = time.monotonic()
    document, source = layers.read(jid)
    assert source == "dynamodb" and document is not None and document["status"] == "pending"
    with db.connect() as conn:
        job_rows.apply_prediction(conn, {"id": "pred-3", "status": "failed", "error": "x"})
    layers.publish([job_id])  # Redis down: DynamoDB still written, nothing raised
    document, source = layers.read(jid)
    assert source == "dynamodb" and document is not None and document["status"] == "failed"
    assert time.monotonic() - started < 10

    # Without DynamoDB too, PostgreSQL answers.
    alone = JobStatusLayers(db, [RedisStatusDocuments(client)])
    document, source = alone.read(jid)
    assert source == "database" and document is not None and document["error"] == "x"


def test_the_warm_path_does_not_touch_postgres(
    db: Database, stored_script: Script, cache: RedisStatusDocuments
) -> None:
    layers = JobStatusLayers(db, [cache])
    _, jid = new_job(db, "pred-4")
    layers.read(jid)
    # The same layers over a database that cannot be reached: every warm read still answers.
    unreachable = JobStatusLayers(
        Database("postgresql://127.0.0.1:1/none?connect_timeout=1"), [cache]
    )
    for _ in range(20):
        document, source = unreachable.read(jid)
        assert source == "redis" and document is not None and document["jobId"] == jid


def test_an_unknown_job_is_missing_and_cached_nowhere(
    db: Database, stored_script: Script, cache: RedisStatusDocuments
) -> None:
    unknown = str(uuid.uuid4())
    assert JobStatusLayers(db, [cache]).read(unknown) == (None, "missing")
    assert cache.get(unknown) is None


def test_expired_jobs_table_items_are_misses(jobs_table: DynamoJobsTable) -> None:
    jid = str(uuid.uuid4())
    document: dict[str, Any] = {"jobId": jid, "status": "pending"}
    jobs_table.client.put_item(
        TableName=jobs_table.table_name,
        Item={
            "jobId": {"S": jid},
            "rank": {"N": "1"},
            "doc": {"S": json.dumps(document)},
            "expiresAt": {"N": str(int(time.time()) - 10)},
        },
    )
    assert jobs_table.get(jid) is None
    assert jobs_table.put(document) is True
    assert jobs_table.get(jid) == document
