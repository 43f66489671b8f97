from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import httpx
import pytest

from tests.fixtures.service import SignWebhook, new_webhook_secret, signed_headers
from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.generation.progress import apply_events
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.logs import JsonFormatter
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.server import RunningService, start_service_in_thread

PATH = "/webhooks/replicate"


def prediction_body(prediction_id: str = "p1", status: str = "succeeded") -> bytes:
    payload = {
        "id": prediction_id,
        "status": status,
        "model": "black-forest-labs/flux-schnell",
        "version": None,
        "input": {"prompt": "a lighthouse at dawn"},
        "output": ["http://127.0.0.1:8787/files/out.webp"] if status == "succeeded" else None,
        "metrics": {"predict_time": 1.25},
    }
    return json.dumps(payload, indent=1).encode()


def inbox_rows(database_url: str) -> list[dict]:
    with connect(database_url) as conn:
        return conn.execute("SELECT * FROM webhook_inbox ORDER BY seq").fetchall()


def post(service: RunningService, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(service.url + PATH, content=body, headers=headers, timeout=10)


def test_valid_webhook_is_stored_verbatim(
    webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    body = prediction_body()
    response = post(webhook_service, body, sign_webhook(body, "msg_1"))
    assert response.status_code == 200
    assert response.json() == {"stored": True}
    [row] = inbox_rows(database_url)
    assert row["body"] == body.decode()
    assert (row["webhook_id"], row["prediction_id"], row["status"]) == ("msg_1", "p1", "succeeded")


def test_answers_within_milliseconds(
    webhook_service: RunningService, sign_webhook: SignWebhook
) -> None:
    with httpx.Client(base_url=webhook_service.url) as client:
        timings = []
        for i in range(20):
            body = prediction_body(f"p{i}")
            started = time.perf_counter()
            assert client.post(PATH, content=body, headers=sign_webhook(body, f"m{i}")).is_success
            timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.1


@pytest.mark.parametrize(
    "forge",
    ["wrong_secret", "unsigned", "tampered_body", "stale", "future", "bad_timestamp"],
)
def test_unverified_webhooks_get_401_and_store_nothing(
    forge: str,
    webhook_service: RunningService,
    sign_webhook: SignWebhook,
    webhook_secret: str,
    database_url: str,
) -> None:
    body = prediction_body()
    now = time.time()
    if forge == "wrong_secret":
        headers = signed_headers(new_webhook_secret(), body, "msg_1")
    elif forge == "unsigned":
        headers = {"content-type": "application/json"}
    elif forge == "tampered_body":
        headers = sign_webhook(body, "msg_1")
        body = body.replace(b"succeeded", b"failed")
    elif forge == "stale":
        headers = sign_webhook(body, "msg_1", timestamp=now - 6 * 60)
    elif forge == "future":
        headers = sign_webhook(body, "msg_1", timestamp=now + 6 * 60)
    else:
        headers = sign_webhook(body, "msg_1") | {"webhook-timestamp": "yesterday"}
    response = post(webhook_service, body, headers)
    assert response.status_code == 401
    assert "detail" in response.json()
    assert webhook_secret.removeprefix("whsec_") not in response.text
    assert inbox_rows(database_url) == []


def test_a_header_with_several_signatures_is_accepted_once_one_matches(
    webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    # What a sender rotating its secret sends: the old key's signature beside the new one's.
    body = prediction_body()
    headers = sign_webhook(body, "msg_1")
    old = signed_headers(new_webhook_secret(), body, "msg_1")["webhook-signature"]
    forged_only = headers | {"webhook-signature": f"{old} v1,{'A' * 44}"}
    assert post(webhook_service, body, forged_only).status_code == 401
    assert inbox_rows(database_url) == []
    rotated = headers | {"webhook-signature": f"{old} {headers['webhook-signature']}"}
    assert post(webhook_service, body, rotated).json() == {"stored": True}


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"[1, 2, 3]", b'{"status": "succeeded"}', b'{"id": "p1"}', b""],
    ids=["not_json", "array", "missing_id", "missing_status", "empty"],
)
def test_malformed_bodies_get_400_and_store_nothing(
    body: bytes, webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    response = post(webhook_service, body, sign_webhook(body, "msg_1"))
    assert response.status_code == 400
    assert "detail" in response.json()
    assert inbox_rows(database_url) == []


MINIMAL = '{"id": "p1", "status": "succeeded"}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Signed, then: 503 (UTF-16 read as UTF-8 has NULs, which Postgres refuses), retried
        # for ever by Replicate.
        (MINIMAL.encode("utf-16-le"), "NUL"),
        # Signed over the raw bytes (not UTF-8 text): 401 although the signature was right.
        (MINIMAL.encode("utf-16"), "not UTF-8"),
        (MINIMAL.encode("latin-1")[:-1] + b', "x": "caf\xe9"}', "not UTF-8"),
        # 100k nested arrays: a RecursionError in json.loads, a 500.
        (
            b'{"id": "p1", "status": "succeeded", "output": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}",
            "deeper than 64",
        ),
        # Stored, then the sensor failed on every tick (Postgres refuses NUL, NaN in jsonb).
        (b'{"id": "p1", "status": "failed", "error": "bad\\u0000byte"}', "NUL"),
        (b'{"id": "p1", "status": "succeeded", "metrics": {"predict_time": NaN}}', "NaN"),
    ],
    ids=["utf16-le", "utf16-bom", "latin1", "deep", "nul-escape", "nan"],
)
def test_signed_bodies_the_sensor_cannot_apply_get_400(
    body: bytes,
    message: str,
    webhook_service: RunningService,
    sign_webhook: SignWebhook,
    database_url: str,
) -> None:
    response = post(webhook_service, body, sign_webhook(body, "msg_1"))
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert inbox_rows(database_url) == []


def test_a_utf8_bom_is_dropped_and_the_event_applied(
    webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    # Before: stored with its BOM and no prediction id; the sensor's json.loads skipped it.
    body = "\ufeff".encode() + prediction_body("p1", "succeeded")
    response = post(webhook_service, body, sign_webhook(body, "msg_1"))
    assert response.json() == {"stored": True}
    [row] = inbox_rows(database_url)
    assert row["body"] == prediction_body("p1", "succeeded").decode()
    assert (row["prediction_id"], row["status"]) == ("p1", "succeeded")
    with connect(database_url) as conn:
        conn.execute(
            "INSERT INTO scripts (id, title, document, status, workspace_id)"
            " VALUES ('s', 's', '{}', 'generating', %s)",
            (default_workspace_id(conn),),
        )
        conn.execute(
            "INSERT INTO jobs (script_id, section_id, stage, take, model_id, prediction_id,"
            " status, input, estimated_cost_usd, media_type, workspace_id)"
            " VALUES ('s', 'hook', 'clip', 1, 'm', 'p1', 'starting', '{}', 0, 'video', %s)",
            (default_workspace_id(conn),),
        )
    assert apply_events(
        Database(database_url), [row["body"]], JobStatusLayers(Database(database_url))
    ) == {"s"}


def test_a_long_webhook_id_is_refused(
    webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    body = prediction_body()
    response = post(webhook_service, body, sign_webhook(body, "m" * 257))
    assert response.status_code == 400
    assert "webhook-id" in response.json()["detail"]
    assert inbox_rows(database_url) == []


def test_redelivery_is_stored_once(
    webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    body = prediction_body()
    assert post(webhook_service, body, sign_webhook(body, "msg_1")).json() == {"stored": True}
    # A retry has the same webhook-id and a fresh timestamp and signature.
    retry = sign_webhook(body, "msg_1", timestamp=time.time() + 1)
    assert post(webhook_service, body, retry).json() == {"stored": False}
    assert len(inbox_rows(database_url)) == 1


def test_concurrent_redeliveries_are_stored_once(
    webhook_service: RunningService, sign_webhook: SignWebhook, database_url: str
) -> None:
    body = prediction_body()
    headers = sign_webhook(body, "msg_1")
    start = threading.Barrier(8)
    answers: list[dict] = []

    def deliver() -> None:
        start.wait()
        response = post(webhook_service, body, headers)
        answers.append({"code": response.status_code, **response.json()})

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["stored"] for a in answers) == [False] * 7 + [True]
    assert {a["code"] for a in answers} == {200}
    assert len(inbox_rows(database_url)) == 1


def test_out_of_order_webhooks_are_kept_in_arrival_order(
    webhook_service: RunningService, sign_webhook: SignWebhook, inbox: PostgresInbox
) -> None:
    completed, processing = prediction_body("p1", "succeeded"), prediction_body("p1", "processing")
    assert post(webhook_service, completed, sign_webhook(completed, "msg_b")).json()["stored"]
    assert post(webhook_service, processing, sign_webhook(processing, "msg_a")).json()["stored"]
    events = inbox.read_after(0, 10)
    assert [e.webhook_id for e in events] == ["msg_b", "msg_a"]
    assert [e.prediction().status for e in events] == ["succeeded", "processing"]
    assert events[0].seq < events[1].seq


def test_secret_never_logged_nor_returned(
    webhook_service: RunningService,
    sign_webhook: SignWebhook,
    webhook_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = prediction_body()
    sent = [
        (body, sign_webhook(body, "msg_ok")),
        (body, sign_webhook(body, "msg_ok")),
        (body, signed_headers(new_webhook_secret(), body, "msg_forged")),
        (b"[]", sign_webhook(b"[]", "msg_bad")),
        (body, sign_webhook(body, "msg_old", timestamp=time.time() - 900)),
    ]
    bodies = [post(webhook_service, content, headers) for content, headers in sent]
    assert [r.status_code for r in bodies] == [200, 200, 401, 400, 401]
    # The signatures themselves (a refusal may name their header, never show one).
    signatures = {headers["webhook-signature"].split(",", 1)[1] for _, headers in sent}
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    raw = [repr(record.__dict__) for record in caplog.records]
    key = webhook_secret.removeprefix("whsec_")
    for text in lines + raw + [r.text for r in bodies]:
        assert key not in text
        assert not any(signature in text for signature in signatures)
    webhook_lines = [json.loads(line) for line in lines if '"outcome"' in line]
    outcomes = {(w["webhook_id"], w["outcome"]) for w in webhook_lines}
    assert outcomes == {
        ("msg_ok", "stored"),
        ("msg_ok", "duplicate"),
        ("msg_forged", "rejected_signature"),
        ("msg_bad", "rejected_body"),
        ("msg_old", "rejected_signature"),
    }
    stored = next(w for w in webhook_lines if w["outcome"] == "stored")
    assert (stored["prediction_id"], stored["status"]) == ("p1", "succeeded")


def test_inbox_failure_answers_503_so_replicate_retries(
    webhook_secret: str, sign_webhook: SignWebhook, database_url: str
) -> None:
    dead = PostgresInbox(Database("postgresql://postgres@127.0.0.1:1/nope?connect_timeout=2"))
    service = start_service_in_thread(create_app(dead, webhook_secret, None))
    try:
        body = prediction_body()
        response = post(service, body, sign_webhook(body, f"msg_{uuid.uuid4().hex}"))
        assert response.status_code == 503
        health = httpx.get(service.url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "inbox": "postgres"}
    finally:
        service.stop()
