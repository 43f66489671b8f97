from __future__ import annotations

import logging

import httpx
import pytest

from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.web.server import RunningService


def test_healthz(webhook_service: RunningService) -> None:
    response = httpx.get(webhook_service.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "inbox": "postgres"}


def test_healthz_is_503_with_one_warning_while_the_inbox_does_not_answer(
    webhook_service: RunningService,
    inbox: PostgresInbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreachable() -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(inbox, "ping", unreachable)
    caplog.set_level(logging.WARNING, logger="vsl_pipelines")
    response = httpx.get(webhook_service.url + "/healthz", timeout=10)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "inbox": "postgres"}
    lines = [
        (record.name, record.levelname, record.getMessage())
        for record in caplog.records
        if record.name.startswith("vsl_pipelines")
    ]
    # The logger name the health line has always had: log queries select on it.
    assert lines == [
        ("vsl_pipelines.web.webhooks", "WARNING", "health check failed: ConnectionRefusedError")
    ]
