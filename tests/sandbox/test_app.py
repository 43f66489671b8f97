"""The sandbox's HTTP API: Replicate's shapes (checked against openapi.json), errors and knobs."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from openapi_schema_validator import OAS30Validator
from replicate.exceptions import ReplicateError

from tests.fixtures.sandbox import AUTH, SANDBOX_TOKEN
from vsl_pipelines.sandbox import RunningSandbox

SDXL = "stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"
FLUX = "black-forest-labs/flux-schnell"
SMALL = {"prompt": "tiny", "aspect_ratio": "1:1", "megapixels": "0.25"}
# Replicate's published OpenAPI description (../shared/replicate/openapi.json, kept with the
# tests so they run wherever the repository is checked out).
OPENAPI = json.loads(
    (Path(__file__).parents[1] / "reference" / "replicate-openapi.json").read_text()
)


def conforms(schema_name: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, errors


@pytest.fixture
def http(sandbox: RunningSandbox) -> httpx.Client:
    with httpx.Client(base_url=sandbox.public_url, timeout=30, headers=AUTH) as client:
        yield client


def wait_terminal(http: httpx.Client, prediction_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"prediction {prediction_id} did not finish")


def test_requests_and_responses_match_the_openapi_schemas(http: httpx.Client) -> None:
    request = {
        "version": SDXL,
        "input": {"prompt": "schema", "width": 256, "height": 256},
        "webhook": "http://127.0.0.1:9/hook",
        "webhook_events_filter": ["completed"],
    }
    conforms("schemas_version_prediction_request", request)
    created = http.post("/v1/predictions", json=request)
    assert created.status_code == 201
    conforms("schemas_prediction_response", created.json())
    assert created.json()["status"] == "starting"
    assert all(isinstance(url, str) for url in created.json()["urls"].values())

    by_name = {"input": SMALL}
    conforms("schemas_prediction_request", by_name)
    official = http.post(f"/v1/models/{FLUX}/predictions", json=by_name)  # no Authorization
    assert official.status_code == 201
    conforms("schemas_prediction_response", official.json())

    done = wait_terminal(http, created.json()["id"])
    conforms("schemas_prediction_response", done)
    assert done["started_at"] and done["completed_at"] and done["metrics"]["predict_time"] > 0
    canceled = http.post(f"/v1/predictions/{done['id']}/cancel")
    assert canceled.json()["status"] == "succeeded"  # a finished prediction stays as it was
    conforms("schemas_prediction_response", canceled.json())
    listing = http.get("/v1/predictions").json()
    conforms("schemas_paginated_prediction_response", listing)
    assert {"key"} == set(http.get("/v1/webhooks/default/secret").json())


def test_both_base_url_conventions_reach_the_api(sandbox: RunningSandbox) -> None:
    for base_url in (sandbox.base_url, sandbox.public_url):
        client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=base_url)
        assert client.predictions.list().results == []


def test_prefer_wait_returns_the_finished_prediction(replicate_client: replicate.Client) -> None:
    prediction = replicate_client.models.predictions.create(model=FLUX, input=SMALL, wait=True)
    assert prediction.status == "succeeded"
    assert prediction.output


def test_unknown_models_are_404(replicate_client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as by_name:
        replicate_client.models.predictions.create(model="nobody/nothing", input={"prompt": "x"})
    assert by_name.value.status == 404 and "nobody/nothing" in by_name.value.detail
    with pytest.raises(ReplicateError) as by_version:
        replicate_client.predictions.create(version="ab" * 32, input={"prompt": "x"})
    assert by_version.value.status == 404


@pytest.mark.parametrize(
    ("model_input", "field"),
    [
        ({"prompt": "x", "cfg_scale": 3}, "cfg_scale"),
        ({"prompt": "x", "num_outputs": 9}, "num_outputs"),
        ({"prompt": "x", "aspect_ratio": "7:5"}, "aspect_ratio"),
        ({"aspect_ratio": "1:1"}, "prompt"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    replicate_client: replicate.Client, model_input: dict[str, Any], field: str
) -> None:
    with pytest.raises(ReplicateError) as error:
        replicate_client.models.predictions.create(model=FLUX, input=model_input)
    assert error.value.status == 422
    assert field in error.value.detail


def test_throttle_next_answers_429_then_recovers(
    replicate_client: replicate.Client, sandbox: RunningSandbox, http: httpx.Client
) -> None:
    sandbox.knobs.throttle_next = 2
    with pytest.raises(ReplicateError) as error:
        replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    assert error.value.status == 429
    assert error.value.detail == "Request was throttled. Expected available in 1 second."
    raw = http.post(f"/v1/models/{FLUX}/predictions", json={"input": SMALL})
    assert (raw.status_code, raw.headers["retry-after"]) == (429, "1")
    assert replicate_client.models.predictions.create(model=FLUX, input=SMALL).id
    assert sandbox.knobs.throttle_next == 0


def test_error_next_answers_500_without_creating(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.error_next = 1
    with pytest.raises(ReplicateError) as error:
        replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    assert error.value.status == 500
    assert replicate_client.predictions.list().results == []


def test_failure_knobs_fail_predictions_with_an_error(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.fail_next = 1
    failed = replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    failed.wait()
    assert failed.status == "failed" and "failure" in failed.error
    assert failed.output is None
    sandbox.knobs.failure_rate = 1.0
    again = replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    again.wait()
    assert again.status == "failed"
    sandbox.knobs.failure_rate = 0.0
    fine = replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    fine.wait()
    assert fine.status == "succeeded"


def test_cancel_stops_a_running_prediction(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.latency_s = 10
    prediction = replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    started = time.monotonic()
    canceled = replicate_client.predictions.cancel(prediction.id)
    assert canceled.status == "canceled" and canceled.completed_at
    time.sleep(0.2)
    again = replicate_client.predictions.get(prediction.id)
    assert (again.status, again.output) == ("canceled", None)
    assert time.monotonic() - started < 5
    with pytest.raises(ReplicateError) as missing:
        replicate_client.predictions.cancel("doesnotexist")
    assert missing.value.status == 404


def test_outputs_expire_after_the_ttl(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.output_ttl_s = 1
    prediction = replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    prediction.wait()
    (url,) = prediction.output
    assert httpx.get(url).status_code == 200
    deadline = time.monotonic() + 10
    while httpx.get(prediction.urls["get"], headers=AUTH).json()["data_removed"] is False:
        assert time.monotonic() < deadline, "outputs were not removed after the ttl"
        time.sleep(0.1)
    expired = httpx.get(url)  # Replicate answers 404 for an output it deleted
    assert expired.status_code == 404 and "expired" in expired.json()["detail"]
    assert httpx.get(url.replace("out-0", "other")).status_code == 404


def test_an_output_deleted_just_before_it_is_opened_answers_as_expired(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    """Expiry deletes files from its own thread: between the route's look at the record and
    its open, the file may go. That is an expired output (404), never an ASGI exception."""
    prediction = replicate_client.models.predictions.create(model=FLUX, input=SMALL)
    prediction.wait()
    (url,) = prediction.output
    for path in (sandbox.engine.files_dir / prediction.id).iterdir():
        path.unlink()  # the record still says the data is there, as in the race
    vanished = httpx.get(url)
    assert vanished.status_code == 404 and "expired" in vanished.json()["detail"]


def test_an_output_deleted_while_it_is_sent_arrives_whole(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    prediction = replicate_client.models.predictions.create(
        model=FLUX, input={**SMALL, "megapixels": "1", "output_format": "png"}
    )
    prediction.wait()
    (url,) = prediction.output
    (path,) = (sandbox.engine.files_dir / prediction.id).iterdir()
    original = path.read_bytes()
    with httpx.stream("GET", url) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(original)
        chunks = response.iter_bytes(4096)
        received = next(chunks)
        path.unlink()
        received += b"".join(chunks)
    assert received == original


def test_list_is_newest_first_with_created_after_and_cursors(sandbox_factory) -> None:
    running = sandbox_factory(page_size=2, latency_s=0)
    client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=running.base_url)
    ids = []
    for index in range(5):
        ids.append(client.models.predictions.create(model=FLUX, input=SMALL).id)
        if index == 1:
            boundary = datetime.now(UTC).isoformat()
        time.sleep(0.01)
    first = client.predictions.list()
    assert [p.id for p in first.results] == ids[:2:-1][:2] == [ids[4], ids[3]]
    assert first.previous is None and first.next
    second = client.predictions.list(first.next)
    third = client.predictions.list(second.next)
    assert [p.id for p in second.results] == [ids[2], ids[1]]
    assert [p.id for p in third.results] == [ids[0]] and third.next is None
    back = client.predictions.list(third.previous)
    assert [p.id for p in back.results] == [ids[2], ids[1]]
    with httpx.Client(headers=AUTH) as http:
        after = http.get(f"{running.base_url}/predictions", params={"created_after": boundary})
        assert [p["id"] for p in after.json()["results"]] == [ids[4], ids[3]]
        page_two = http.get(after.json()["next"]).json()
        assert [p["id"] for p in page_two["results"]] == [ids[2]]
        before = http.get(f"{running.base_url}/predictions", params={"created_before": boundary})
        assert [p["id"] for p in before.json()["results"]] == [ids[1], ids[0]]
        assert http.get(f"{running.base_url}/predictions?cursor=garbage").status_code == 400


def test_knobs_route_validates_and_updates(sandbox: RunningSandbox, http: httpx.Client) -> None:
    assert http.get("/sandbox/knobs").json()["latency_s"] == 0.05
    bad = http.post("/sandbox/knobs", json={"failure_rate": 2, "latency_s": 0})
    assert bad.status_code == 422 and "failure_rate" in bad.json()["detail"]
    assert sandbox.knobs.latency_s == 0.05  # nothing applied from a rejected patch
    unknown = http.post("/sandbox/knobs", json={"latency": 1})
    assert unknown.status_code == 422 and "latency" in unknown.json()["detail"]
    good = http.post("/sandbox/knobs", json={"throttle_next": 1, "out_of_order": True})
    assert good.status_code == 200 and good.json()["throttle_next"] == 1
    assert sandbox.knobs.out_of_order is True
    assert http.post(f"/v1/models/{FLUX}/predictions", json={"input": SMALL}).status_code == 429


def test_no_token_or_secret_reaches_the_logs(
    replicate_client: replicate.Client,
    sandbox: RunningSandbox,
    caplog: pytest.LogCaptureFixture,
    webhook_sink,
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_sink.respond_with(500)
    prediction = replicate_client.models.predictions.create(
        model=FLUX, input=SMALL, webhook=webhook_sink.url, webhook_events_filter=["completed"]
    )
    webhook_sink.wait_for_status("succeeded", count=2)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert prediction.id in text
    assert SANDBOX_TOKEN not in text and sandbox.secret not in text
    assert sandbox.secret.removeprefix("whsec_") not in text


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer r8_wrong", "Bearer", f"Basic {SANDBOX_TOKEN}", f"Bearer {SANDBOX_TOKEN}x"],
)
def test_the_api_answers_only_its_own_token(
    sandbox: RunningSandbox, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=sandbox.public_url, headers=headers) as http:
        for method, path in (
            ("GET", "/v1/webhooks/default/secret"),
            ("GET", "/v1/predictions"),
            ("POST", f"/v1/models/{FLUX}/predictions"),
        ):
            response = http.request(method, path, json={"input": SMALL})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["title"] == "Unauthenticated"
            assert sandbox.secret not in response.text
    assert sandbox.engine.store.all() == [], "nothing was created"


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_the_token_opens_the_api_under_either_scheme(sandbox: RunningSandbox, scheme: str) -> None:
    response = httpx.get(
        f"{sandbox.base_url}/webhooks/default/secret",
        headers={"Authorization": f"{scheme} {SANDBOX_TOKEN}"},
    )
    assert response.status_code == 200 and response.json()["key"] == sandbox.secret
