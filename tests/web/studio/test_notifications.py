"""The admin page's notification URL over plain HTTP: an admin sets it (http or https, else
refused with the reason at the top of the page), the page and the audit log show its host
only, an empty one removes it, and no other role may change it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.web.studio.conftest import KEY
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.settings import get_settings

ADMIN = "/studio/admin"
URL = "https://hooks.slack.com/services/T0001/B0002/s3cr3tT0ken"
_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(client: TestClient) -> str:
    match = _TOKEN.search(client.get(ADMIN).text)
    assert match is not None
    return match.group(1)


def _stored(db: Database) -> str | None:
    with db.connect() as conn:
        return workspace_rows.notification_url(conn, default_workspace_id(conn))


def test_an_admin_sets_the_url_and_sees_only_its_host(client: TestClient, db: Database) -> None:
    page = client.get(ADMIN).text
    assert 'id="notifications"' in page and "No notification URL is set." in page
    csrf = _csrf(client)
    refused = client.post(
        f"{ADMIN}/notifications", data={"csrf": csrf, "webhook_url": "ftp://hooks.example.com/x"}
    )
    assert refused.status_code == 422
    assert "notification URL: must start with https://" in refused.text
    assert _stored(db) is None
    saved = client.post(
        f"{ADMIN}/notifications",
        data={"csrf": csrf, "webhook_url": URL},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{ADMIN}#notifications"
    assert _stored(db) == URL
    page = client.get(ADMIN).text
    assert "Notifications go to <strong>hooks.slack.com</strong>" in page
    assert "s3cr3tT0ken" not in page and "T0001" not in page  # neither here nor in the audit log
    assert "notifications.changed" in page
    removed = client.post(
        f"{ADMIN}/notifications", data={"csrf": csrf, "webhook_url": ""}, follow_redirects=False
    )
    assert removed.status_code == 303 and _stored(db) is None


def test_only_an_admin_changes_it(build_api_app: BuildApiApp, db: Database) -> None:
    _, key = create_key(db, "marketer", role=Role.REVIEWER)
    browser = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    assert browser.post("/studio/sign-in", data={"key": key}).status_code == 200
    csrf = _TOKEN.search(browser.get("/studio").text)
    assert csrf is not None
    refused = browser.post(
        f"{ADMIN}/notifications", data={"csrf": csrf.group(1), "webhook_url": URL}
    )
    assert refused.status_code == 403 and _stored(db) is None


@pytest.fixture
def internal_hosts_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The service as deployed: `VSL_NOTIFY_INTERNAL_HOSTS` off (the tests turn it on)."""
    monkeypatch.setenv("VSL_NOTIFY_INTERNAL_HOSTS", "0")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_an_internal_address_is_refused_at_the_field(
    client: TestClient, db: Database, internal_hosts_refused: None, url: str
) -> None:
    refused = client.post(
        f"{ADMIN}/notifications", data={"csrf": _csrf(client), "webhook_url": url}
    )
    assert refused.status_code == 422
    assert "notifications go to public receivers only" in refused.text
    assert _stored(db) is None
