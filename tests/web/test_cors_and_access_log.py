"""Browser reads from configured origins (CORS for GET and HEAD only), and the `/api` access
log with the original system's fields."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import JsonFormatter
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.settings import Settings
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.server import RunningService, start_service_in_thread

ALLOWED = "https://studio.example.com"


@pytest.fixture
def service(
    db: Database,
    inbox: PostgresInbox,
    webhook_secret: str,
    service_media_root: Path,
    registry: Registry,
) -> RunningService:
    settings = Settings(VSL_CORS_ORIGINS=f" {ALLOWED}/ , https://other.example.com")
    config = ApiConfig(
        db=db,
        job_status=JobStatusLayers(db),
        media_store=LocalMediaStore(service_media_root, "http://127.0.0.1:1/media"),
        registry=registry,
        cors_origins=settings.cors_origin_list,
    )
    running = start_service_in_thread(
        create_app(inbox, webhook_secret, service_media_root, api=config)
    )
    yield running
    running.stop()


def test_configured_origins_may_read_and_no_origin_may_write(
    service: RunningService, stored_script: Script
) -> None:
    url = f"{service.url}/api/scripts/spring-launch"
    read = httpx.get(url, headers={"Origin": ALLOWED})
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == ALLOWED
    stranger = httpx.get(url, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers

    preflight = httpx.options(
        url,
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    write = httpx.options(
        f"{service.url}/api/scripts",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
    )
    assert write.status_code == 400, "a cross-site write is never allowed"
    posted = httpx.post(f"{service.url}/api/scripts", json={}, headers={"Origin": ALLOWED})
    assert posted.status_code == 403 and "access-control-allow-origin" in posted.headers


def test_api_requests_are_logged_with_the_original_fields(
    service: RunningService,
    stored_script: Script,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, key = create_key(db, "logged", user_id="user-9")
    with caplog.at_level(logging.INFO, logger="vsl_pipelines.web.access"):
        answer = httpx.get(f"{service.url}/api/scripts/spring-launch", headers={"X-API-Key": key})
        httpx.get(f"{service.url}/healthz")
    assert answer.status_code == 200
    lines = [
        json.loads(JsonFormatter().format(r))
        for r in caplog.records
        if r.name == "vsl_pipelines.web.access"
    ]
    [line] = [entry for entry in lines if entry.get("action") == "api_request"]
    assert (line["method"], line["path"], line["status"], line["userId"]) == (
        "GET",
        "/api/scripts/{script_id}",
        200,
        "user-9",
    )
    assert 0 < line["duration"] < 10_000
    assert key not in json.dumps(lines)
