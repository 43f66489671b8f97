from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vsl_pipelines.inbox.events import (
    InboxEvent,
    InvalidWebhookBody,
    PredictionEvent,
    summarize_webhook_body,
)

REPLICATE_BODY = {
    "id": "ufawqhfynnddngldkgtslldrkq",
    "model": "stability-ai/stable-video-diffusion",
    "version": "3f0457e4619daac51203dedb472816fd4af51f3149fa7a9e0b5ffcf1b8172438",
    "input": {"input_image": "http://127.0.0.1:8080/media/k.png", "seed": 7},
    "logs": "frame 14/14",
    "output": "https://replicate.delivery/pbxt/out.mp4",
    "data_removed": False,
    "error": None,
    "status": "succeeded",
    "created_at": "2024-05-01T12:00:00.000Z",
    "started_at": "2024-05-01T12:00:01.000Z",
    "completed_at": "2024-05-01T12:00:31.500Z",
    "urls": {
        "get": "https://api.replicate.com/v1/predictions/ufawqhfynnddngldkgtslldrkq",
        "cancel": "https://api.replicate.com/v1/predictions/ufawqhfynnddngldkgtslldrkq/cancel",
        "stream": None,
    },
    "metrics": {"predict_time": 30.5, "total_time": 31.5},
    "deployment": None,
}


def test_inbox_event_parses_a_replicate_prediction() -> None:
    event = InboxEvent(
        seq=3, webhook_id="msg_1", received_at=datetime.now(UTC), body=json.dumps(REPLICATE_BODY)
    )
    prediction = event.prediction()
    assert prediction.id == REPLICATE_BODY["id"]
    assert prediction.status == "succeeded"
    assert prediction.is_terminal
    assert prediction.metrics is not None and prediction.metrics.predict_time == 30.5
    assert prediction.output == REPLICATE_BODY["output"]
    assert prediction.completed_at == datetime(2024, 5, 1, 12, 0, 31, 500000, tzinfo=UTC)
    assert prediction.model_extra == {"deployment": None}


@pytest.mark.parametrize("status", ["starting", "processing", "aborted"])
def test_prediction_event_accepts_minimal_bodies(status: str) -> None:
    prediction = PredictionEvent.model_validate_json(json.dumps({"id": "p", "status": status}))
    assert prediction.status == status
    assert prediction.is_terminal is (status == "aborted")


def test_prediction_event_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        PredictionEvent.model_validate({"id": "p", "status": "exploded"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON list"),
        (b'{"status": "succeeded"}', "'id'"),
        (b'{"id": 5, "status": "succeeded"}', "'id'"),
        (b'{"id": "p"}', "'status'"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_summarize_rejects_what_is_not_a_prediction(body: bytes, message: str) -> None:
    with pytest.raises(InvalidWebhookBody, match=message):
        summarize_webhook_body(body)


def test_summarize_keeps_unknown_status() -> None:
    assert summarize_webhook_body('{"id": "p", "status": "queued"}') == ("p", "queued")
