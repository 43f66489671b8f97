"""Editing a stored script in Chromium (Debian's, driven by Playwright): the focus stays on the
equivalent control when the editor redraws, one section's prompt is changed, the confirmation
shows that section alone with its cost before anything is spent, and after the save only that
section gets a new take and, at the generation run, the only new prediction. Leaving with
unsaved changes asks first, and the draft kept in the browser comes back; axe-core finds no
serious or critical violation on the edit, confirmation, history and duplicate pages. Also the Id
field's pattern, which Chromium compiles with the `v` flag, is one it accepts."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.fixtures.api import StartApi
from tests.web.studio.test_accessibility import violations
from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import script_versions as version_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.generation import Submission

pytestmark = pytest.mark.browser

KEY = "studio-documents-key"
ACTIVE = "document.activeElement && document.activeElement.id"


def _generated_and_approved(db: Database, submission: Submission, script_id: str) -> None:
    """The keyframes and soundtrack asked for, every current take approved: a script in review."""
    assert len(submission.submit(script_id, "keyframe").submitted) == 3
    assert len(submission.submit(script_id, "soundtrack").submitted) == 1
    with db.connect() as conn:
        for row in script_rows.sections_of(conn, script_id):
            approval_rows.append_decision(
                conn, script_id=script_id, section_id=row.id, take=row.current_take,
                decision="approved", reviewer="rita",
            )  # fmt: skip
        script_rows.set_status(conn, script_id, "review")


def _redraw(page: Any, button: str, focused: str) -> None:
    """Press a button that redraws the editor; the focus lands on `focused`."""
    with page.expect_response(re.compile(r"/edit$")):
        page.locator(button).click()
    try:
        page.wait_for_function(f"(id) => ({ACTIVE}) === id", arg=focused, timeout=5_000)
    except Exception:
        raise AssertionError(f"after {button}: the focus is on {page.evaluate(ACTIVE)!r}") from None


def test_one_section_edited_is_the_only_one_regenerated(
    chromium_browser: Any,
    start_api: StartApi,
    db: Database,
    registry: Registry,
    stored_script: Script,
    submission: Submission,
) -> None:
    started = time.monotonic()
    script_id = stored_script.id
    _generated_and_approved(db, submission, script_id)
    service = start_api(api_key=KEY)
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []  # a script the Content-Security-Policy stopped, a script's error
    page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(f"{service.url}/studio/scripts/new")
        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{service.url}/studio/scripts/new")
        id_field = page.locator("#id")
        pattern = id_field.get_attribute("pattern")
        assert page.evaluate("(p) => { new RegExp(p, 'v'); return true; }", pattern)
        id_field.fill("Not An Id")
        assert id_field.evaluate("(e) => e.validity.patternMismatch")
        id_field.fill("a-fine-id")
        assert not id_field.evaluate("(e) => e.validity.patternMismatch")

        page.goto(f"{service.url}/studio/scripts/{script_id}")
        page.locator("#edit-script").click()
        page.wait_for_url(f"{service.url}/studio/scripts/{script_id}/edit")
        assert page.locator("#estimate").get_by_text("Nothing is generated").is_visible()
        axe = {"edit": violations(page)}

        # The focus stays where the person was, on the equivalent control, across redraws.
        _redraw(page, "#add-section", "sections-3-narration")  # the new section's words
        assert page.locator("#editor-status").inner_text() == "Section 4 added."
        page.locator("#sections-3-visual").focus()
        page.locator("#sections-3-visual").select_option("image-clip")  # what to generate
        page.wait_for_selector("#sections-3-clip-model")
        page.wait_for_function(f"() => ({ACTIVE}) === 'sections-3-visual'", timeout=5_000)
        _redraw(page, "#sections-3-remove", "sections-2-id")  # the section now last
        _redraw(page, "#sections-0-down", "sections-1-down")  # the moved section's button
        assert page.locator("#sections-1-id").input_value() == "hook"
        _redraw(page, "#sections-1-up", "sections-0-down")  # its Up is disabled at the top
        assert page.locator("#sections-0-id").input_value() == "hook"

        page.locator("#sections-0-keyframe-prompt").fill("a parent smiling at a full fridge")
        cost = usd_text(
            registry.get("flux-schnell").estimate_cost({})
            + registry.get("stability-video").estimate_cost({})
        )
        page.locator("#estimate").get_by_text(cost).first.wait_for()
        # Leaving asks first; the draft kept in the browser is offered back and restored.
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept()))
        page.reload()
        assert asked == ["beforeunload"]
        assert page.locator("#sections-0-keyframe-prompt").input_value() != (
            "a parent smiling at a full fridge"
        )
        page.get_by_role("button", name="Restore the draft").click()
        page.wait_for_function(
            "() => document.getElementById('sections-0-keyframe-prompt').value"
            " === 'a parent smiling at a full fridge'"
        )
        page.locator("#estimate").get_by_text(cost).first.wait_for()
        page.get_by_role("button", name="Review changes and cost").click()
        page.wait_for_selector("#save-edit")
        assert page.locator("#regenerate-hook").is_visible()
        assert page.locator("tr[id^=regenerate-]").count() == 1
        assert cost in page.locator("#edit-cost").inner_text()
        assert "offer, close" in page.locator("#kept-sections").inner_text()
        axe["confirmation"] = violations(page)
        with db.connect() as conn:  # nothing spent or saved before the save
            assert version_rows.latest_version(conn, script_id) == 1
        page.locator("#save-edit").click()
        page.wait_for_url(f"{service.url}/studio/scripts/{script_id}")
        for name in ("history", "duplicate"):
            page.locator(
                f"#{'script-history' if name == 'history' else 'duplicate-script'}"
            ).click()
            page.wait_for_url(f"{service.url}/studio/scripts/{script_id}/{name}")
            axe[name] = violations(page)
            page.go_back()
        assert problems == [], problems
        assert {name: found for name, found in axe.items() if found} == {}
    finally:
        context.close()

    with db.connect() as conn:
        takes = {r.id: r.current_take for r in script_rows.sections_of(conn, script_id)}
        assert script_rows.script_row(conn, script_id).status == "queued"
        [newest, _] = version_rows.versions_of(conn, script_id)
    assert takes == {"hook": 2, "offer": 1, "close": 1}
    assert newest.version == 2 and newest.saved_by.startswith("bootstrap")
    # The generation run the schedule starts next asks for the hook's new take alone.
    submitted = submission.submit(script_id, "keyframe").submitted
    assert [(p["section"], p["take"]) for p in submitted] == [("hook", 2)]
    assert submission.submit(script_id, "soundtrack").submitted == []
    print(f"edit in the browser: {time.monotonic() - started:.1f} s")
