from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vsl_pipelines.inbox.events import (
    MAX_WEBHOOK_DEPTH,
    InboxEvent,
    InvalidWebhookBody,
    PredictionEvent,
    summarize_webhook_body,
    webhook_text,
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
        (b"\xff\xfe{", "not UTF-8"),
    ],
)
def test_summarize_rejects_what_is_not_a_prediction(body: bytes, message: str) -> None:
    with pytest.raises(InvalidWebhookBody, match=message):
        summarize_webhook_body(body)


def test_summarize_keeps_unknown_status() -> None:
    assert summarize_webhook_body('{"id": "p", "status": "queued"}') == ("p", "queued")


MINIMAL = '{"id": "p", "status": "succeeded"}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Each of these was summarized (stored) although the sensor skips it or fails on it.
        (MINIMAL.encode("utf-16-le"), "NUL"),  # json.loads(bytes) guessed UTF-16
        (MINIMAL.encode("utf-32"), "not UTF-8"),
        ("\ufeff" + MINIMAL, "BOM"),  # the sensor's json.loads(str) refuses a BOM
        ('{"id": "p", "status": "failed", "error": "a\\u0000b"}', "NUL"),
        ('{"id": "p", "status": "failed", "error": "\\ud800"}', "surrogate"),
        ('{"id": "p", "status": "succeeded", "metrics": {"predict_time": NaN}}', "NaN"),
        ('{"id": "p", "status": "succeeded", "metrics": {"predict_time": 1e999}}', "range"),
        ('{"id": "p", "status": "succeeded", "output": -Infinity}', "Infinity"),
    ],
    ids=["utf16", "utf32", "bom", "nul", "surrogate", "nan", "overflow", "infinity"],
)
def test_summarize_refuses_what_the_sensor_could_not_apply(body: bytes | str, message: str) -> None:
    with pytest.raises(InvalidWebhookBody, match=message):
        summarize_webhook_body(body)


def test_summarize_refuses_deep_nesting_without_recursion_error() -> None:
    deep = '{"id": "p", "status": "succeeded", "output": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InvalidWebhookBody, match=f"deeper than {MAX_WEBHOOK_DEPTH}"):
        summarize_webhook_body(deep)
    # Deeper than the limit but shallow enough for json.loads: refused by the walk.
    nested = MAX_WEBHOOK_DEPTH
    within = '{"id": "p", "status": "s", "output": ' + "[" * (nested - 1) + "]" * (nested - 1)
    assert summarize_webhook_body(within + "}") == ("p", "s")
    beyond = '{"id": "p", "status": "s", "output": ' + "[" * nested + "]" * nested + "}"
    with pytest.raises(InvalidWebhookBody, match="deeper"):
        summarize_webhook_body(beyond)


def test_webhook_text_drops_a_utf8_bom_and_refuses_other_encodings() -> None:
    assert webhook_text(b"\xef\xbb\xbf" + MINIMAL.encode()) == MINIMAL
    assert summarize_webhook_body(webhook_text(b"\xef\xbb\xbf" + MINIMAL.encode())) == (
        "p",
        "succeeded",
    )
    assert webhook_text(MINIMAL) == MINIMAL
    with pytest.raises(InvalidWebhookBody, match="not UTF-8"):
        webhook_text(MINIMAL.encode("utf-16"))


def test_summarize_keeps_escapes_the_database_can_hold() -> None:
    body = '{"id": "p", "status": "failed", "error": "caf\\u00e9 \\ud83d\\ude00 \\\\u0000"}'
    assert summarize_webhook_body(body) == ("p", "failed")
