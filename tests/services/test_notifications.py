"""Notifications to a workspace's webhook, delivered to a real local HTTP receiver: the URL's
checks, Slack-compatible payloads (a `text` and structured fields), retries on 5xx and lost
connections but not on a refusal, nothing sent without a URL, and the URL's secret path never
logged or audited (only its host)."""

from __future__ import annotations

import logging
import socket

import pytest

from tests.fixtures.api import add_clip
from tests.fixtures.sandbox import WebhookSink
from vsl_pipelines.db import audit
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id, workspace_by_slug
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.notifications import (
    NotificationRefused,
    Notifier,
    StudioLinks,
    check_webhook_url,
    deliver,
    set_notification_url,
    url_host,
)
from vsl_pipelines.services.review import decide

SCRIPT = "spring-launch"
SECRET = "T0001/B0002/s3cr3tT0ken"
LINKS = StudioLinks("https://vsl.example.com")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://hooks.example.com/x", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("hooks.slack.com/services/x", "must start with https://"),
        ("https://", "names no host"),
        ("http://[::1/hook", "not a URL"),
        ("https://hooks.example.com:port/x", "port is not a number"),
        ("https://hooks.example.com/a b", "no spaces"),
        ("https://hooks.example.com/\x07", "control characters"),
        ("https://hooks.example.com/" + "x" * 2048, "at most 2048 characters"),
    ],
)
def test_a_url_that_is_not_http_is_refused_with_its_reason(url: str, words: str) -> None:
    with pytest.raises(NotificationRefused, match=words):
        check_webhook_url(url)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is an internal address"),
        ("http://127.1/hook", "internal"),  # also 127.0.0.1, as a resolver reads it
        ("https://localhost/hook", "localhost is an internal name"),
        ("https://api.localhost/hook", "internal name"),
        ("http://10.0.0.5/hook", "10.0.0.5 is an internal address"),
        ("http://172.16.3.4/hook", "internal address"),
        ("http://192.168.1.1/hook", "internal address"),
        ("http://100.64.0.1/hook", "internal address"),  # carrier-grade NAT
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is an internal address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "internal name"),
        ("http://0.0.0.0:9000/", "internal address"),
        ("http://[::1]:8080/hook", "::1 is an internal address"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "internal address"),  # EC2's over IPv6
        ("http://[fe80::1]/hook", "internal address"),
        ("http://[::ffff:127.0.0.1]/hook", "internal address"),
        (f"http://{socket.gethostname()}:8080/hook", "internal"),  # resolves to this machine
    ],
)
def test_an_internal_host_is_refused_at_the_field(url: str, words: str) -> None:
    with pytest.raises(NotificationRefused, match=words):
        check_webhook_url(url, allow_internal=False)
    assert check_webhook_url(url, allow_internal=True) == url  # local development and tests


def test_a_public_host_is_accepted_and_one_that_does_not_resolve_is_left_to_the_delivery() -> None:
    for url in ("https://93.184.215.14/hook", "https://hooks.slack.invalid/services/x"):
        assert check_webhook_url(url, allow_internal=False) == url


def test_a_delivery_resolves_then_refuses_an_internal_address(webhook_sink: WebhookSink) -> None:
    """A URL stored while its name pointed elsewhere is checked again at each delivery: a
    name that now resolves to an internal address is not posted to."""
    port = webhook_sink.url.rsplit(":", 1)[1].split("/", 1)[0]
    url = f"http://{socket.gethostname()}:{port}/{SECRET}"
    refused = deliver(url, {"text": "x"}, backoff_s=0.01, allow_internal=False)
    assert (refused.ok, refused.attempts, refused.status) == (False, 0, None)
    assert refused.error and "resolves to an internal address" in refused.error
    assert SECRET not in refused.describe() and webhook_sink.received == []
    allowed = deliver(url, {"text": "x"}, backoff_s=0.01, allow_internal=True)
    assert allowed.ok and len(webhook_sink.received) == 1


def test_the_url_is_stored_and_audited_by_its_host_only(db: Database) -> None:
    url = f"https://hooks.slack.com/services/{SECRET}"
    with db.connect() as conn:
        workspace = workspace_by_slug(conn, "default")
        set_notification_url(conn, workspace, f"  {url} ", "admin@example.com")
        assert workspace_rows.notification_url(conn, workspace.id) == url
        set_notification_url(conn, workspace, "", "admin@example.com")
        assert workspace_rows.notification_url(conn, workspace.id) is None
        entries = audit.entries(conn, workspace.id, limit=10)
    assert [(e.action, e.detail) for e in entries] == [
        ("notifications.changed", {"host": None}),
        ("notifications.changed", {"host": "hooks.slack.com"}),
    ]


def test_studio_links_come_from_the_service_s_public_media_url() -> None:
    assert StudioLinks.from_media_url("https://vsl.example.com/media/").base == (
        "https://vsl.example.com"
    )
    links = StudioLinks.from_media_url("http://127.0.0.1:8080/media")
    assert links.script("a b") == "http://127.0.0.1:8080/studio/scripts/a%20b"
    assert (
        links.download("s", 4) == "http://127.0.0.1:8080/studio/scripts/s/compilations/4/download"
    )
    assert StudioLinks.from_media_url("https://cdn.example.com/files").base == (
        "https://cdn.example.com"
    )


def test_a_delivery_is_retried_on_5xx_and_not_on_a_refusal(webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(503, 500)
    delivered = deliver(webhook_sink.url, {"text": "hello"}, backoff_s=0.01)
    assert (delivered.ok, delivered.attempts, delivered.status) == (True, 3, 200)
    assert [h.payload for h in webhook_sink.received] == [{"text": "hello"}] * 3
    assert webhook_sink.received[0].headers["content-type"] == "application/json"
    webhook_sink.respond_with(404)
    refused = deliver(webhook_sink.url, {"text": "again"}, backoff_s=0.01)
    assert (refused.ok, refused.attempts, refused.status) == (False, 1, 404)
    host = url_host(webhook_sink.url)
    assert refused.describe() == f"not delivered to {host} after 1 attempt(s): answered 404"


def test_a_receiver_that_is_not_there_is_tried_again_then_given_up() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{SECRET}"
    delivered = deliver(url, {"text": "x"}, attempts=2, backoff_s=0.01, timeout_s=2)
    assert (delivered.ok, delivered.attempts, delivered.status) == (False, 2, None)
    assert delivered.error and "ConnectError" in delivered.error and SECRET not in delivered.error


@pytest.fixture
def in_review(db: Database, stored_script: Script) -> Database:
    """The sample script's three clips stored, the hook's approved: two decisions waiting."""
    for section in ("hook", "offer", "close"):
        add_clip(db, SCRIPT, section)
    with db.connect() as conn:
        decide(conn, SCRIPT, "hook", "approved")
    return db


def _set_url(db: Database, url: str) -> None:
    with db.connect() as conn:
        workspace_rows.set_notification_url(conn, default_workspace_id(conn), url, "test")


def test_decisions_waiting_are_posted_slack_compatible(
    in_review: Database, webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{webhook_sink.url}/{SECRET}"
    _set_url(in_review, url)
    caplog.set_level(logging.INFO)
    delivered = Notifier(in_review, LINKS).decisions_waiting(SCRIPT)
    assert delivered is not None and delivered.ok
    [received] = webhook_sink.received
    page = "https://vsl.example.com/studio/scripts/spring-launch"
    assert received.payload == {
        "text": "2 decisions waiting for review on “Spring launch: the 10-minute meal planner”:"
        f" {page}",
        "event": "decisions_waiting",
        "workspace": "default",
        "script": {"id": SCRIPT, "title": "Spring launch: the 10-minute meal planner"},
        "pending_decisions": 2,
        "url": page,
    }
    [line] = [r for r in caplog.records if r.getMessage() == "notification sent"]
    assert line.fields["host"] == delivered.host and line.fields["event"] == "decisions_waiting"  # type: ignore[attr-defined]
    assert SECRET not in caplog.text and url not in caplog.text


def test_nothing_is_sent_without_a_url_or_without_decisions_waiting(
    in_review: Database, webhook_sink: WebhookSink
) -> None:
    assert Notifier(in_review, LINKS).decisions_waiting(SCRIPT) is None
    _set_url(in_review, webhook_sink.url)
    with in_review.connect() as conn:
        for section in ("offer", "close"):
            decide(conn, SCRIPT, section, "approved")
    assert Notifier(in_review, LINKS).decisions_waiting(SCRIPT) is None
    assert webhook_sink.received == []


def test_a_failed_notification_is_logged_by_host_and_never_raises(
    in_review: Database, webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    _set_url(in_review, f"{webhook_sink.url}/{SECRET}")
    webhook_sink.respond_with(500, 500, 500)
    caplog.set_level(logging.INFO)
    delivered = Notifier(in_review, LINKS, backoff_s=0.01).video_ready(SCRIPT, 7, "mp4", 9.5)
    assert delivered is not None and not delivered.ok and delivered.attempts == 3
    assert len(webhook_sink.received) == 3
    payload = webhook_sink.received[0].payload
    assert payload["event"] == "video_ready" and payload["compilation"] == {
        "id": 7,
        "format": "mp4",
        "duration_s": 9.5,
    }
    assert payload["download_url"].endswith("/studio/scripts/spring-launch/compilations/7/download")
    assert payload["text"].startswith("The video of “Spring launch")
    [line] = [r for r in caplog.records if r.getMessage() == "notification failed"]
    assert line.levelno == logging.WARNING and line.fields["error"] == "answered 500"  # type: ignore[attr-defined]
    assert SECRET not in caplog.text
