"""Embedded Metric Format: each event's JSON log line carries its metrics for CloudWatch."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from tests.fixtures.scripts import record_job
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.progress import apply_events
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.logs import JsonFormatter
from vsl_pipelines.metrics.emf import NAMESPACE, record


def emitted(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [
        json.loads(JsonFormatter().format(r))
        for r in caplog.records
        if r.name == "vsl_pipelines.metrics"
    ]


def test_a_line_carries_values_units_and_dimensions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vsl_pipelines.metrics")
    record(
        {"JobsCompleted": 1, "ProcessingTime": 12.5},
        action="job_completed",
        job_id=7,
        script_id="spring-launch",
        model_id="sdxl",
    )
    [line] = emitted(caplog)
    assert (line["JobsCompleted"], line["ProcessingTime"]) == (1, 12.5)
    assert (line["action"], line["modelId"], line["job_id"]) == ("job_completed", "sdxl", 7)
    assert line["script_id"] == "spring-launch" and line["model_id"] == "sdxl"
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE == "VSL/MediaGeneration"
    assert directive["Dimensions"] == [["modelId"], []]
    assert directive["Metrics"] == [
        {"Name": "JobsCompleted", "Unit": "Count"},
        {"Name": "ProcessingTime", "Unit": "Seconds"},
    ]
    assert isinstance(line["_aws"]["Timestamp"], int)


def test_without_a_model_the_metric_has_no_dimension(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vsl_pipelines.metrics")
    record({"CacheHitRate": 100}, action="status_read")
    [line] = emitted(caplog)
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "CacheHitRate", "Unit": "Percent"}
    ]


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        record({"JobsStartd": 1}, action="typo")


def test_applied_webhooks_record_their_latency(
    caplog: pytest.LogCaptureFixture, db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        record_job(conn, "p-late")
    body = {
        "id": "p-late",
        "status": "succeeded",
        "completed_at": "2026-11-30T10:00:00.000000Z",
        "metrics": {"predict_time": 3.5},
    }
    received = datetime(2026, 11, 30, 10, 0, 0, 750_000, tzinfo=UTC)
    caplog.set_level(logging.INFO, logger="vsl_pipelines.metrics")
    apply_events(db, [json.dumps(body)], JobStatusLayers(db), received=[received])
    lines = {line["action"]: line for line in emitted(caplog)}
    assert lines["webhook_applied"]["WebhookLatency"] == 750.0
    assert lines["job_completed"]["ProcessingTime"] == 3.5
    assert lines["job_completed"]["modelId"] == "flux-schnell"
