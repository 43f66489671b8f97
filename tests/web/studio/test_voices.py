"""Voice samples over HTTP with the sandbox's speech: the editor offers a player of the chosen
voice, whose sample is spoken once by the model (a prediction on the sandbox) and kept, so a
second listen makes no prediction; a voice or model that is not offered is a 404, a service
without the prediction client a 503."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.fixtures.sandbox import SANDBOX_TOKEN
from tests.web.studio.conftest import KEY
from tests.web.studio.test_pages import editor_fields, token
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.sandbox.server import RunningSandbox
from vsl_pipelines.services.voice_samples import sample_key
from vsl_pipelines.storage.local import LocalMediaStore


def _signed_in(app: object) -> TestClient:
    browser = TestClient(app, base_url=LOCAL_BASE_URL)  # type: ignore[arg-type]
    signed = browser.post("/studio/sign-in", data={"key": KEY, "next": "/studio"})
    assert signed.status_code == 200
    return browser


def _predictions(sandbox: RunningSandbox) -> int:
    listed = httpx.get(
        f"{sandbox.base_url}/predictions",
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    return len(listed.json()["results"])


def test_a_voice_is_heard_before_it_is_chosen(
    build_api_app: BuildApiApp,
    prediction_client: PredictionClient,
    api_media_store: LocalMediaStore,
    sandbox: RunningSandbox,
) -> None:
    browser = _signed_in(build_api_app(api_key=KEY, predictions=prediction_client))
    editor = browser.post(
        "/studio/scripts/new",
        data=editor_fields(csrf=token(browser), op="refresh", **{"voice-model": "kokoro-82m"}),
    )
    assert editor.status_code == 200, editor.text[:300]
    assert 'data-sample="voice-param-voice-sample"' in editor.text
    assert 'src="/studio/voices/kokoro-82m/af_bella"' in editor.text  # the model's default

    sample = browser.get("/studio/voices/kokoro-82m/bf_emma", follow_redirects=False)
    assert sample.status_code == 303, sample.text
    assert "/media/voice-samples/kokoro-82m/bf_emma.wav" in sample.headers["location"]
    stored = api_media_store.local_path(sample_key("kokoro-82m", "bf_emma"))
    probe = probe_media(stored)
    assert probe.duration_s and probe.duration_s > 1  # a sentence, spoken
    made = _predictions(sandbox)
    again = browser.get("/studio/voices/kokoro-82m/bf_emma", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == sample.headers["location"]
    assert _predictions(sandbox) == made, "kept: a second listen makes nothing"

    for path in (
        "/studio/voices/kokoro-82m/no_such_voice",
        "/studio/voices/flux-schnell/af_bella",
        "/studio/voices/no-such-model/af_bella",
    ):
        refused = browser.get(path, follow_redirects=False)
        assert refused.status_code == 404 and "has no voice" in refused.text, path
    bad = browser.get("/studio/voices/kokoro-82m/..%2Fetc", follow_redirects=False)
    assert bad.status_code in (404, 422)


def test_without_the_prediction_service_a_sample_is_503(build_api_app: BuildApiApp) -> None:
    browser = _signed_in(build_api_app(api_key=KEY))
    answer = browser.get("/studio/voices/kokoro-82m/af_bella", follow_redirects=False)
    assert answer.status_code == 503 and "prediction service" in answer.text
    signed_out = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    assert signed_out.get(
        "/studio/voices/kokoro-82m/af_bella", follow_redirects=False
    ).status_code in (
        303,
        401,
    )
