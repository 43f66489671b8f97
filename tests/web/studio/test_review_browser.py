"""Reviewing from the keyboard in Chromium (Debian's, driven by Playwright): a signed-in
reviewer opens the queue from the nav's badge, moves with J/K, approves a voiced section's clip
and narration with A (and lands on the next one), opens a rejection with R (the prompt filled
in, the retake's cost and time said), approves the section played with one click, and the page
of a 3-section voiced script stays under 2,500 px at 1280 px with its forms folded (and fits a
390 px phone). Then the whole sequence plays its sections one after the other. No daemon: the service and the store
only, so the walk takes seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api import BuildApiApp
from tests.fixtures.review import NARRATED
from tests.fixtures.service import free_port
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.server import RunningService, start_service_in_thread

pytestmark = pytest.mark.browser

KEY = "review-browser-key"
MAX_HEIGHT_PX = 2_500
ITEM = f"item-{NARRATED}"


@pytest.fixture
def service(build_api_app: BuildApiApp, service_media_root: Path) -> Iterator[RunningService]:
    """The service whose media URLs are its own `/media/` (the browser plays the takes)."""
    port = free_port()
    store = LocalMediaStore(service_media_root, f"http://127.0.0.1:{port}/media")
    running = start_service_in_thread(build_api_app(KEY, media_store=store), port=port)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(chromium_browser: Any) -> Any:
    """The module's Chromium (tests/fixtures/chromium.py)."""
    return chromium_browser


def decisions(db: Database) -> list[tuple[str, str, str, str | None]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT section_id, subject, decision, prompt FROM approvals ORDER BY id"
        ).fetchall()
    return [(r["section_id"], r["subject"], r["decision"], r["prompt"]) for r in rows]


def focused(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement.id"))


def height(page: Any) -> int:
    return int(page.evaluate("() => document.documentElement.scrollHeight"))


@pytest.mark.timeout(120)
def test_review_a_voiced_script_from_the_keyboard(
    browser: Any,
    service: RunningService,
    narrated_takes: Script,
    db: Database,
    registry: Registry,
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused: list[str] = []  # e.g. a script the Content-Security-Policy stopped

    def console(message: Any) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            refused.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: refused.append(str(e)))
    try:
        page.goto(f"{service.url}/studio")
        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{service.url}/studio")

        # The nav's badge says how many decisions wait (loaded after the page), and leads there.
        page.wait_for_function(
            "() => document.getElementById('review-badge').dataset.count === '6'",
            timeout=10_000,
        )
        page.get_by_role("link", name=re.compile("Review queue")).click()
        page.wait_for_url(f"{service.url}/studio/review")
        assert height(page) < MAX_HEIGHT_PX, f"{height(page)} px with the forms folded"

        # J/K move between the sections; A approves the clip and the narration together.
        for key, expected in (("j", "hook"), ("j", "offer"), ("k", "hook")):
            page.keyboard.press(key)
            assert focused(page) == f"{ITEM}-{expected}", key
        with page.expect_navigation():
            page.keyboard.press("a")
        assert page.url.endswith(f"#{ITEM}-offer"), "the next section, not the top"
        page.wait_for_function(f"() => document.activeElement.id === '{ITEM}-offer'")
        assert decisions(db) == [
            ("hook", "clip", "approved", None),
            ("hook", "narration", "approved", None),
        ]
        assert page.locator("#review-badge").get_attribute("data-count") == "4"

        # R opens the rejection: the prompt filled in, the variation explained, the cost said.
        page.keyboard.press("r")
        reject = page.locator(f"#{ITEM}-offer-reject")
        assert reject.get_attribute("open") is not None
        assert focused(page) == f"{ITEM}-offer-clip-note"
        prompt = narrated_takes.sections[1].keyframe.prompt  # type: ignore[union-attr]
        assert page.locator(f"#{ITEM}-offer-prompt").input_value() == prompt
        assert page.get_by_label("Variation (optional)").first.is_visible()
        cost = page.locator(f"#{ITEM}-offer-clip-cost").inner_text()
        sdxl = registry.get("sdxl")
        assert f"A new take costs about {usd_text(sdxl.estimate_cost({}))}" in cost
        assert f"takes about {round(sdxl.expected_seconds({}))} s" in cost
        assert height(page) > 0
        page.keyboard.type("too plain")
        page.locator(f"#{ITEM}-offer-prompt").fill(f"{prompt}, with a smiling parent")
        with page.expect_navigation():
            page.get_by_role("button", name="Reject clip take 1").click()
        assert page.url.endswith(f"#{ITEM}-offer"), "its narration still waits here"
        assert decisions(db)[-1] == (
            "offer", "clip", "rejected", f"{prompt}, with a smiling parent"
        )  # fmt: skip

        # The close played (P) is offered for approval with every other played section.
        page.keyboard.press("j")
        assert focused(page) == f"{ITEM}-close"
        page.keyboard.press("p")
        played = page.get_by_role("button", name="Approve the 1 played section")
        played.wait_for()
        with page.expect_navigation():
            played.click()
        assert decisions(db)[-2:] == [
            ("close", "clip", "approved", None),
            ("close", "narration", "approved", None),
        ]
        assert "Approved 1 played section(s)." in page.locator("#notice").inner_text()
        assert height(page) < MAX_HEIGHT_PX

        # On a phone: nothing wider than the screen, a reject form opened.
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator(f"#{ITEM}-offer-reject summary").click()
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"the queue scrolls sideways at 390 px: {widths}"
        page.set_viewport_size({"width": 1280, "height": 900})

        # The whole sequence: each section's media one after the other in one player.
        page.goto(f"{service.url}/studio/review/{NARRATED}/preview")
        page.get_by_role("button", name="Play the whole sequence").click()
        page.wait_for_function(
            "() => document.getElementById('sequence-video').dataset.part === 'offer'",
            timeout=15_000,
        )
        assert refused == []
    finally:
        context.close()
