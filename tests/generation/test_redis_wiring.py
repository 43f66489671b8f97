"""Redis in the flow: creates go through the shared rate limiter, webhooks update the job
status documents."""

import json

import redis

from tests.fixtures.pipeline import client_base_url, wait_for_jobs
from tests.fixtures.sandbox import SANDBOX_TOKEN
from vsl_pipelines.cache import RedisRateLimiter
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.progress import apply_events
from vsl_pipelines.generation.submit import submit_missing_predictions
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.redis_documents import status_documents_from_url
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.storage.local import LocalMediaStore


def test_creates_take_permits_and_statuses_reach_redis(
    db: Database,
    stored_script: Script,
    registry: Registry,
    sandbox: RunningSandbox,
    media_store: LocalMediaStore,
    redis_url: str,
    redis_prefix: str,
) -> None:
    limiter = RedisRateLimiter(redis_url, prefix=redis_prefix)
    client = PredictionClient(client_base_url(sandbox), SANDBOX_TOKEN, None, rate_limiter=limiter)
    cache = status_documents_from_url(redis_url, redis_prefix)
    assert cache is not None
    layers = JobStatusLayers(db, [cache])
    submit_missing_predictions(
        db, client, registry, media_store, "spring-launch", "keyframe", layers
    )
    server = redis.Redis.from_url(redis_url)
    assert server.zcard(f"{redis_prefix}rate:create") == 3, "one create permit per prediction"

    jobs = wait_for_jobs(db, client, "spring-launch", "keyframe")
    submitted = [cache.get(str(job.public_id)) for job in jobs]
    assert [d["status"] if d else None for d in submitted] == ["pending"] * 3
    with db.connect() as conn:
        conn.execute("UPDATE jobs SET status = 'processing'")  # so the webhooks move them forward
    bodies = [json.dumps(client.get(job.prediction_id)) for job in jobs]
    assert apply_events(db, bodies + bodies, layers) == {"spring-launch"}
    # Succeeded but not yet collected: still processing for a client.
    for job in jobs:
        entry = cache.get(str(job.public_id))
        assert entry is not None
        assert (entry["status"], entry["predictionId"]) == ("processing", job.prediction_id)
