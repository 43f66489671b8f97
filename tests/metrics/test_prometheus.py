"""`/metrics` figures derived from real rows: jobs by model, processing time, webhook latency,
compile time, cost; the status cache's hits and misses of this process."""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.scripts import record_job
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.redis_documents import status_documents_from_url
from vsl_pipelines.metrics.prometheus import metrics_renderer


def scrape(db: Database) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics_renderer(db)().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_jobs_webhooks_and_compilations_are_counted(db: Database, stored_script: Script) -> None:
    with db.connect() as conn:
        for prediction, status in (("p1", "starting"), ("p2", "starting"), ("p3", "starting")):
            record_job(conn, prediction, status)
            conn.execute("UPDATE jobs SET take = id WHERE prediction_id = %s", (prediction,))
        job_rows.apply_prediction(
            conn,
            {
                "id": "p1",
                "status": "succeeded",
                "output": ["https://x/1.png", "https://x/2.png"],
                "metrics": {"predict_time": 4.0, "image_count": 2},
            },
        )
        job_rows.apply_prediction(conn, {"id": "p2", "status": "failed", "error": "boom"})
        body = {"id": "p1", "status": "succeeded", "completed_at": "2026-11-30T10:00:00Z"}
        conn.execute(
            "INSERT INTO webhook_inbox (webhook_id, prediction_id, status, received_at, body)"
            " VALUES ('w1', 'p1', 'succeeded', '2026-11-30T10:00:00.3Z', %s)",
            (json.dumps(body),),
        )
        conn.execute(
            "INSERT INTO compilations (script_id, status, created_at, completed_at)"
            " VALUES ('spring-launch', 'succeeded', now() - interval '3 seconds', now())"
        )
    samples = scrape(db)
    model = (("model", "flux-schnell"),)
    assert samples[("vsl_jobs_started_total", model)] == 3
    assert samples[("vsl_jobs_completed_total", model)] == 1
    assert samples[("vsl_jobs_failed_total", model)] == 1
    assert samples[("vsl_cost_usd_total", model)] == 0.009
    # Billed: two images at $0.003 for p1, nothing for p2's failure, p3 still running.
    assert samples[("vsl_cost_actual_usd_total", model)] == 0.006
    assert samples[("vsl_processing_seconds_count", model)] == 1
    assert samples[("vsl_processing_seconds_sum", model)] == 4.0
    assert samples[("vsl_processing_seconds_bucket", (("le", "2.0"), *model))] == 0
    assert samples[("vsl_processing_seconds_bucket", (("le", "5.0"), *model))] == 1
    assert samples[("vsl_webhook_latency_seconds_count", ())] == 1
    assert samples[("vsl_webhook_latency_seconds_bucket", (("le", "0.25"),))] == 0
    assert samples[("vsl_webhook_latency_seconds_bucket", (("le", "0.5"),))] == 1
    assert samples[("vsl_compile_seconds_count", ())] == 1
    assert 2.5 < samples[("vsl_compile_seconds_sum", ())] < 10


def test_status_reads_are_counted_by_the_layer_that_answered(
    db: Database, stored_script: Script, redis_url: str, redis_prefix: str
) -> None:
    with db.connect() as conn:
        job_id = record_job(conn, "p-cache")
        row = conn.execute("SELECT public_id FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    before = scrape(db)
    cache = status_documents_from_url(redis_url, redis_prefix)
    assert cache is not None
    layers = JobStatusLayers(db, [cache])
    for _ in range(3):
        layers.read(str(row["public_id"]))  # from the database, then twice from Redis
    layers.read("00000000-0000-0000-0000-000000000000")
    after = scrape(db)

    def delta(layer: str) -> float:
        key = ("vsl_status_reads_total", (("layer", layer),))
        return after.get(key, 0) - before.get(key, 0)

    assert (delta("database"), delta("redis"), delta("missing")) == (1, 2, 1)


def test_a_database_outage_still_answers(db: Database) -> None:
    text = metrics_renderer("postgresql://127.0.0.1:1/none?connect_timeout=1")().decode()
    assert "vsl_jobs_started" not in text  # nothing invented; the scrape itself succeeds


def test_the_service_serves_metrics_under_the_api_rules(
    db: Database, stored_script: Script, start_api: Any
) -> None:
    with db.connect() as conn:
        record_job(conn, "p-http")
    open_service = start_api()
    response = httpx.get(f"{open_service.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'vsl_jobs_started_total{model="flux-schnell"} 1.0' in response.text

    keyed = start_api(api_key="k-metrics")
    assert httpx.get(f"{keyed.url}/metrics").status_code == 401
    allowed = httpx.get(f"{keyed.url}/metrics", headers={"Authorization": "Bearer k-metrics"})
    assert allowed.status_code == 200
    rebound = httpx.get(f"{open_service.url}/metrics", headers={"Host": "evil.example"})
    assert rebound.status_code == 421
