from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.fixtures.service import signed_headers
from vsl_pipelines.cli.serve import serve_command
from vsl_pipelines.db.database import Database
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.settings import Settings
from vsl_pipelines.web import server as server_module
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.limits import (
    MAX_CONNECTIONS,
)
from vsl_pipelines.web.protocol import GuardedHttpToolsProtocol
from vsl_pipelines.web.server import (
    WebhookSecretUnavailable,
    build_app_from_settings,
    fetch_webhook_secret,
    start_service_in_thread,
)

TOKEN = "r8_testtokenvalue1234"


class FakeReplicate(ThreadingHTTPServer):
    """Answers `GET /v1/webhooks/default/secret`, after `failures` 503 answers."""

    def __init__(self, secret: str, failures: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), SecretHandler)
        self.secret = secret
        self.failures = failures
        self.requests: list[tuple[str, str | None]] = []

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class SecretHandler(BaseHTTPRequestHandler):
    server: FakeReplicate

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        if self.server.failures > 0:
            self.server.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        if self.path != "/v1/webhooks/default/secret":
            self.send_response(404)
            self.end_headers()
            return
        payload = json.dumps({"key": self.server.secret}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_replicate(webhook_secret: str) -> Iterator[FakeReplicate]:
    server = FakeReplicate(webhook_secret, failures=2)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_app_from_settings_fetches_the_secret_from_the_api(
    fake_replicate: FakeReplicate, webhook_secret: str, db: Database, tmp_path: Path
) -> None:
    settings = Settings(
        DATABASE_URL=db.url,
        REPLICATE_BASE_URL=fake_replicate.api_url,
        REPLICATE_API_TOKEN=TOKEN,
        REPLICATE_WEBHOOK_SECRET=None,
        VSL_MEDIA_ROOT=tmp_path / "media",
    )
    service = start_service_in_thread(build_app_from_settings(settings))
    try:
        body = b'{"id": "p1", "status": "starting"}'
        response = httpx.post(
            service.url + "/webhooks/replicate",
            content=body,
            headers=signed_headers(webhook_secret, body, "msg_1"),
            timeout=10,
        )
        assert response.json() == {"stored": True}
        assert httpx.get(service.url + "/healthz", timeout=10).status_code == 200
    finally:
        service.stop()
    assert fake_replicate.requests[-1] == ("/v1/webhooks/default/secret", f"Bearer {TOKEN}")
    assert len(fake_replicate.requests) == 3  # two 503 answers were retried
    assert (tmp_path / "media").is_dir()


def test_configured_secret_needs_no_api(db: Database, tmp_path: Path) -> None:
    secret = "whsec_" + "A" * 43 + "="
    settings = Settings(
        DATABASE_URL=db.url,
        REPLICATE_BASE_URL="http://127.0.0.1:1/v1",
        REPLICATE_WEBHOOK_SECRET=secret,
        VSL_MEDIA_ROOT=tmp_path,
    )
    service = start_service_in_thread(build_app_from_settings(settings))
    try:
        body = b'{"id": "p1", "status": "starting"}'
        headers = signed_headers(secret, body, "msg_1")
        response = httpx.post(service.url + "/webhooks/replicate", content=body, headers=headers)
        assert response.status_code == 200
    finally:
        service.stop()


def test_unreachable_api_is_a_clear_error_without_the_token() -> None:
    with pytest.raises(WebhookSecretUnavailable) as caught:
        fetch_webhook_secret("http://127.0.0.1:1/v1", TOKEN, attempts=2, backoff_s=0.01)
    message = str(caught.value)
    assert "REPLICATE_WEBHOOK_SECRET" in message and "127.0.0.1:1" in message
    assert TOKEN not in message


def test_refusal_is_not_retried(fake_replicate: FakeReplicate) -> None:
    fake_replicate.failures = 0
    with pytest.raises(WebhookSecretUnavailable, match="HTTP 404"):
        fetch_webhook_secret(fake_replicate.api_url + "/wrong", None, backoff_s=0.01)
    assert fake_replicate.requests == [("/v1/wrong/webhooks/default/secret", None)]


def test_serve_command_options() -> None:
    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_service_thread_stops(webhook_secret: str, inbox: PostgresInbox, tmp_path: Path) -> None:
    service = start_service_in_thread(create_app(inbox, webhook_secret, tmp_path))
    assert httpx.get(service.url + "/healthz", timeout=10).status_code == 200
    service.stop()
    assert not service.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(service.url + "/healthz", timeout=2)


def test_run_service_bounds_headers_and_slow_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: uvicorn's defaults (httptools with no header bound and no header deadline).
    served: dict[str, object] = {}
    monkeypatch.setattr(server_module, "build_app_from_settings", lambda settings: "app")
    monkeypatch.setattr(server_module.uvicorn, "run", lambda app, **kw: served.update(kw))
    server_module.run_service("127.0.0.1", 8080)
    protocol = served["http"]
    assert isinstance(protocol, type) and issubclass(protocol, GuardedHttpToolsProtocol)
    assert served["loop"] == "uvloop"
    assert served["limit_concurrency"] == MAX_CONNECTIONS
    assert served["timeout_keep_alive"] == 5
    assert (served["host"], served["port"]) == ("127.0.0.1", 8080)


def test_service_thread_has_the_same_limits(
    webhook_secret: str, inbox: PostgresInbox, tmp_path: Path
) -> None:
    service = start_service_in_thread(create_app(inbox, webhook_secret, tmp_path))
    try:
        config = service.server.config
        assert isinstance(config.http, type) and issubclass(config.http, GuardedHttpToolsProtocol)
        assert config.limit_concurrency == MAX_CONNECTIONS
    finally:
        service.stop()
