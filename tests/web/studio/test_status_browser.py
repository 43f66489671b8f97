"""The scripts list in Chromium follows the work without a reload: its rows refresh while a
script is active (htmx polling `/studio/live`, allowed by the studio's Content-Security-Policy)
and the polling stops once no script is."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fixtures.api import StartApi
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import set_status
from vsl_pipelines.domain.script import Script

pytestmark = pytest.mark.browser
SCRIPT = "spring-launch"


def test_the_scripts_list_refreshes_itself_until_nothing_is_active(
    chromium_browser: Any, start_api: StartApi, db: Database, stored_script: Script
) -> None:
    service = start_api()  # loopback without a key: a session without signing in
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/studio/live" in r.url else None)
    errors: list[str] = []
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    try:
        page.goto(f"{service.url}/studio")
        row = page.locator("#scripts-live tr", has_text=SCRIPT)
        headline = row.locator(".status-headline")
        headline.get_by_text("Queued since").wait_for()
        with db.connect() as conn:
            set_status(conn, SCRIPT, "generating")
        headline.get_by_text("Generating").wait_for()  # no reload: the fragment was polled
        assert polls and all(p.endswith("/studio/live") for p in polls)
        with db.connect() as conn:
            set_status(conn, SCRIPT, "compiled")
        headline.get_by_text("Compiled").wait_for()
        assert page.locator("#scripts-live").get_attribute("hx-trigger") is None
        seen = len(polls)
        time.sleep(4)  # longer than the 3 s between polls
        assert len(polls) == seen, "nothing is active: the list stops polling"
        assert [e for e in errors if not e.endswith("/favicon.ico")] == []
    finally:
        context.close()
