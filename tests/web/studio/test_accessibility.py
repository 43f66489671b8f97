"""Accessibility of every studio page: axe-core (npm, devtools/axe, from its lock) run by
Playwright in Debian's Chromium over the scripts list, the editor, a script's page, the review
queue and its sequence, the cost dashboard, the admin page and the sign-in page, at a desktop
width and at a phone's; no serious or critical violation may remain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api import BuildApiApp
from tests.fixtures.review import NARRATED
from tests.fixtures.service import free_port
from vsl_pipelines.domain.script import Script
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.server import RunningService, start_service_in_thread

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

KEY = "axe-key"
AXE = PROJECT_ROOT / "devtools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = (
    "/studio",
    "/studio/scripts/new",
    f"/studio/scripts/{NARRATED}",
    f"/studio/scripts/{NARRATED}/edit",  # a voice, with its sample's player
    "/studio/review",
    f"/studio/review/{NARRATED}/preview",
    "/studio/costs",
    "/studio/admin",
)
BLOCKING = ("serious", "critical")


@pytest.fixture
def service(build_api_app: BuildApiApp, service_media_root: Path) -> Iterator[RunningService]:
    port = free_port()
    store = LocalMediaStore(service_media_root, f"http://127.0.0.1:{port}/media")
    running = start_service_in_thread(build_api_app(KEY, media_store=store), port=port)
    yield running
    running.stop()


def violations(page: Any) -> list[str]:
    """axe's serious and critical findings on the page as it stands, one line each."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make .venv/.installed` installs devtools/axe")
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in BLOCKING
    ]


@pytest.mark.timeout(120)
def test_no_studio_page_has_a_serious_or_critical_violation(
    chromium_browser: Any, service: RunningService, narrated_takes: Script
) -> None:
    problems: dict[str, list[str]] = {}
    for width in (1280, 390):
        context = chromium_browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            page.goto(f"{service.url}/studio/sign-in")
            problems.update({f"{width}px /studio/sign-in": violations(page)})
            page.get_by_label("API key").fill(KEY)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{service.url}/studio")
            for path in PAGES:
                page.goto(f"{service.url}{path}")
                page.wait_for_load_state("networkidle")
                problems[f"{width}px {path}"] = violations(page)
        finally:
            context.close()
    found = {page: lines for page, lines in problems.items() if lines}
    assert not found, "\n".join(
        f"{page}: {line}" for page, lines in found.items() for line in lines
    )
