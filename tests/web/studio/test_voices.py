"""Voice samples over HTTP with the sandbox's speech: the editor offers a player of the chosen
voice, whose sample is spoken once by the model (a prediction on the sandbox) and kept, so a
second listen makes no prediction; a voice or model that is not offered is a 404, a service
without the prediction client a 503. A new sample is the listener's workspace's spend (a job
at its billed cost, on the cost dashboard), refused with 402 when the budget has no room."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.fixtures.sandbox import SANDBOX_TOKEN
from tests.web.studio.conftest import KEY
from tests.web.studio.test_pages import editor_fields, token
from vsl_pipelines.db.audit import entries
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow, adhoc_jobs_between
from vsl_pipelines.db.workspaces import create_workspace, default_workspace_id, set_budget
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.sandbox.server import RunningSandbox
from vsl_pipelines.services.keys import create_key
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


def _sample_jobs(db: Database) -> list[JobRow]:
    """Every ad-hoc job there is (a voice sample is one), oldest first."""
    with db.connect() as conn:
        return adhoc_jobs_between(
            conn, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )


def _dashboard(browser: TestClient, key: str) -> dict[str, Any]:
    answer = browser.get("/api/costs/dashboard", headers={"x-api-key": key})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_new_sample_is_its_workspace_s_spend_and_its_budget_may_refuse_it(
    build_api_app: BuildApiApp,
    prediction_client: PredictionClient,
    api_media_store: LocalMediaStore,
    sandbox: RunningSandbox,
    db: Database,
) -> None:
    """The first listen of a voice is a job of the listener's workspace at its billed cost (the
    cost dashboard counts it); a workspace whose budget has no room gets a 402 for a voice never
    sampled, with nothing made or stored, while a stored sample plays for free to anyone; a
    viewer may not make one (403)."""
    app = build_api_app(api_key=KEY, predictions=prediction_client)
    browser = _signed_in(app)
    made = browser.get("/studio/voices/kokoro-82m/bf_emma", follow_redirects=False)
    assert made.status_code == 303, made.text
    [job] = _sample_jobs(db)
    with db.connect() as conn:
        default = default_workspace_id(conn)
    assert (job.workspace_id, job.model_id, job.media_type) == (default, "kokoro-82m", "audio")
    assert job.status == "succeeded" and job.prediction_id is not None
    assert job.collected_at is not None, "stored under its voice's key, collected by no run"
    assert job.actual_cost_usd is not None and job.cost_source == "billed"
    assert job.actual_cost_usd != job.estimated_cost_usd, "billed by its own predict time"
    spent = float(job.actual_cost_usd)
    dashboard = _dashboard(browser, KEY)
    assert dashboard["jobs"] == 1 and dashboard["spentUsd"] == pytest.approx(spent)
    [model] = dashboard["byModel"]
    assert model["modelId"] == "kokoro-82m" and model["actualUsd"] == pytest.approx(spent)
    assert [u["name"] for u in dashboard["byUser"]] == [job.user_id]
    with db.connect() as conn:
        [entry] = [e for e in entries(conn, default) if e.action == "voice_sample.requested"]
        assert entry.object == f"job:{job.public_id}"

    with db.connect() as conn:
        set_budget(conn, default, spent)  # the month's budget, all spent
    predictions = _predictions(sandbox)
    refused = browser.get("/studio/voices/kokoro-82m/af_bella", follow_redirects=False)
    assert refused.status_code == 402, refused.text
    assert "budget" in refused.text and "already sampled still play" in refused.text
    assert not api_media_store.exists(sample_key("kokoro-82m", "af_bella"))
    assert _predictions(sandbox) == predictions and len(_sample_jobs(db)) == 1
    again = browser.get("/studio/voices/kokoro-82m/bf_emma", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == made.headers["location"]

    with db.connect() as conn:
        create_workspace(conn, "acme", "Acme", 0)
    _, acme_key = create_key(db, "acme-viewer", workspace="acme", role=Role.VIEWER)
    acme = TestClient(app, base_url=LOCAL_BASE_URL)
    signed = acme.post("/studio/sign-in", data={"key": acme_key}, follow_redirects=False)
    assert signed.status_code == 303
    heard = acme.get("/studio/voices/kokoro-82m/bf_emma", follow_redirects=False)
    assert heard.status_code == 303, "a stored sample is nobody's spend"
    viewer = acme.get("/studio/voices/kokoro-82m/af_bella")
    assert viewer.status_code == 403 and "viewer may not" in viewer.text, "a viewer spends nothing"
    _, acme_writer = create_key(db, "acme-writer", workspace="acme", role=Role.WRITER)
    writer = TestClient(app, base_url=LOCAL_BASE_URL)
    signed = writer.post("/studio/sign-in", data={"key": acme_writer}, follow_redirects=False)
    assert signed.status_code == 303
    assert writer.get("/studio/voices/kokoro-82m/af_bella").status_code == 402  # $0 budget
    assert _dashboard(acme, acme_key)["jobs"] == 0
    assert _predictions(sandbox) == predictions and len(_sample_jobs(db)) == 1
