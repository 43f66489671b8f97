"""The variants sample edited in Chromium (Debian's, driven by Playwright): the editor names the
hook's variants, its Output part shows the script's versions, reframing and landing-page files
ticked, one section's narration changed and saved keeps everything else as it was; axe-core
finds no serious or critical violation on the editor at a desktop's width and a phone's, with
a problem shown at the renditions' boxes too."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.api import StartApi
from tests.web.studio.test_accessibility import violations
from tests.web.studio.test_editor_keeps import SCRIPT_ID, _store_variants, _version
from vsl_pipelines.db.database import Database

pytestmark = pytest.mark.browser

KEY = "studio-variants-key"
NEW_WORDS = "Meet Planwise: every dinner of the week, planned for you."


@pytest.mark.timeout(120)
def test_the_variants_sample_edited_in_chromium_keeps_its_variants(
    chromium_browser: Any, start_api: StartApi, db: Database
) -> None:
    before = _store_variants(db)
    service = start_api(api_key=KEY)
    axe: dict[str, list[str]] = {}
    problems: list[str] = []
    for width in (1280, 390):
        context = chromium_browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            page.goto(f"{service.url}/studio/scripts/{SCRIPT_ID}/edit")
            page.get_by_label("API key").fill(KEY)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{service.url}/studio/scripts/{SCRIPT_ID}/edit")
            assert "Hook variants: question, promise" in page.locator("#sections-0").inner_text()
            assert page.get_by_label("9:16 portrait (Reels, Shorts, TikTok)").is_checked()
            assert page.get_by_label("adaptive streaming (HLS)").is_checked()
            assert page.get_by_label("Fill other shapes by").input_value() == "blur"
            axe[f"{width}px edit"] = violations(page)
            if width != 1280:
                continue
            # A refused shape is shown at the boxes, and the page stays accessible.
            page.locator("#output-renditions-0").evaluate("(box) => { box.value = '4:3'; }")
            page.get_by_role("button", name="Review changes and cost").click()
            page.wait_for_selector("#output-renditions-error")
            assert "Versions for" in page.locator("#output-renditions-error").inner_text()
            axe[f"{width}px refused"] = violations(page)
            page.goto(f"{service.url}/studio/scripts/{SCRIPT_ID}/edit")
            page.once("dialog", lambda dialog: dialog.accept())
            page.locator("#sections-1-narration").fill(NEW_WORDS)
            page.get_by_role("button", name="Review changes and cost").click()
            page.wait_for_selector("#save-edit")
            assert page.locator("tr[id^=regenerate-]").count() == 1
            assert page.locator("#regenerate-offer").is_visible()
            page.locator("#save-edit").click()
            page.wait_for_url(f"{service.url}/studio/scripts/{SCRIPT_ID}")
        finally:
            context.close()
    assert problems == [], problems
    assert {name: found for name, found in axe.items() if found} == {}
    after = _version(db, 2)
    before["sections"][1]["narration"] = NEW_WORDS
    assert after == before
