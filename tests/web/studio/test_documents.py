"""A stored script as a document over plain HTTP: the editor in plain words (labels and help
from the registry, advanced settings folded, checkboxes, named choices, voices and transitions,
errors naming their field), an edit's confirmation with its cost before the save, the version
history, duplicates and the export; the refusals (bad forms, stale versions, roles, another
workspace's script: 404)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.fixtures.scripts import NARRATED_SCRIPT
from tests.web.studio.test_pages import editor_fields, script_count, token
from vsl_pipelines.db import script_versions as version_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import create_workspace, default_workspace_id
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.keys import create_key

_FIELD = re.compile(r"<(input|select|textarea)\b([^>]*)>")


def _attributes(page: str, field_id: str) -> str:
    """The attributes of the form field with this id."""
    for _, attributes in _FIELD.findall(page):
        if f'id="{field_id}"' in attributes:
            return attributes
    raise AssertionError(f"no field {field_id}")


def _label(page: str, field_id: str) -> str:
    match = re.search(rf'<label for="{re.escape(field_id)}"[^>]*>(.*?)</label>', page, re.S)
    assert match is not None, f"no label for {field_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _store(client: TestClient, **changes: str) -> None:
    stored = client.post(
        "/studio/scripts/new", data=editor_fields(csrf=token(client), **changes),
        follow_redirects=False,
    )  # fmt: skip
    assert stored.status_code == 303, stored.text[:500]


def _edit_fields(client: TestClient, script_id: str = "autumn-sale") -> dict[str, str]:
    """The edit page's form as a browser would post it (every named field's value)."""
    page = client.get(f"/studio/scripts/{script_id}/edit")
    assert page.status_code == 200, page.text[:500]
    form = page.text[page.text.index('<form id="editor"') :]
    form = form[: form.index("</form>")]
    fields: dict[str, str] = {}
    for tag, attributes in _FIELD.findall(form):
        name = re.search(r'name="([^"]+)"', attributes)
        if name is None:
            continue
        if 'type="checkbox"' in attributes and " checked" not in attributes:
            continue
        value = re.search(r'value="([^"]*)"', attributes)
        if tag == "textarea":
            start = form.index(attributes) + len(attributes) + 1
            fields[name.group(1)] = html.unescape(form[start : form.index("</textarea>", start)])
        elif tag == "select":
            start = form.index(attributes)
            options = form[start : form.index("</select>", start)]
            chosen = re.search(r'<option value="([^"]*)" selected', options)
            fields[name.group(1)] = html.unescape(chosen.group(1)) if chosen else ""
        else:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else "on"
    return {k: v for k, v in fields.items() if v}


# Plain words ----------------------------------------------------------------------------------


def test_the_editor_names_parameters_in_plain_words(client: TestClient) -> None:
    page = client.get("/studio/scripts/new").text
    assert _label(page, "sections-0-keyframe-param-aspect_ratio") == "Shape"
    assert "16:9 fills a landscape video" in page  # its help
    assert 'aria-describedby="sections-0-keyframe-param-aspect_ratio-help"' in page
    assert ">Landscape video (16:9)</option>" in page
    # On/off parameters are checkboxes, ticked as the model has them unless told.
    go_fast = _attributes(page, "sections-0-keyframe-param-go_fast")
    assert 'type="checkbox"' in go_fast and " checked" in go_fast
    unsafe = _attributes(page, "sections-0-keyframe-param-disable_safety_checker")
    assert 'type="checkbox"' in unsafe and " checked" not in unsafe
    assert "Faster generation" in page and "Skip the safety check" in page
    # Advanced settings are folded away; the shape is not.
    details = page[page.index('<details class="params"') :]
    details = details[: details.index("</details>")]
    assert 'id="sections-0-keyframe-param-go_fast"' in details
    assert 'id="sections-0-keyframe-param-seed"' in details and "Variation" in details
    assert 'id="sections-0-keyframe-param-aspect_ratio"' not in details
    assert "num_inference_steps</label>" not in page and "Refinement steps" in page
    # Transitions by name, a still's seconds; the id's pattern a valid expression.
    assert '<optgroup label="Wipes">' in page and ">Cross-fade</option>" in page
    assert 'value="wipeleft:0.5">Wipe to the left</option>' in page
    assert 'pattern="[a-z0-9][a-z0-9\\-]{0,62}"' in _attributes(page, "id")


def test_voices_have_readable_names(client: TestClient) -> None:
    page = client.post(
        "/studio/scripts/new",
        data=editor_fields(csrf=token(client), op="refresh", **{"voice-model": "kokoro-82m"}),
    ).text
    assert '<option value="af_bella">Bella (US, female)</option>' in page
    assert '<option value="bm_george">George (UK, male)</option>' in page
    assert "model's default (Bella (US, female))</option>" in page
    assert _label(page, "voice-param-speed") == "Speed"


def test_sign_in_names_no_setting(build_api_app: BuildApiApp) -> None:
    browser = TestClient(build_api_app(api_key="k"), base_url=LOCAL_BASE_URL)
    page = browser.get("/studio/sign-in").text
    assert "VSL_API_KEY" not in page and "vsl keys" not in page
    assert "your administrator" in page


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        ({}, {"go_fast": False}),  # the box the model has on, unticked: off
        ({"sections-0-keyframe-param-go_fast": "true"}, {}),  # as the model has it: unsaid
        (
            {
                "sections-0-keyframe-param-go_fast": "true",
                "sections-0-keyframe-param-disable_safety_checker": "true",
            },
            {"disable_safety_checker": True},
        ),
    ],
)
def test_checkboxes_store_what_differs_from_the_model(
    client: TestClient, db: Database, ticks: dict[str, str], expected: dict[str, Any]
) -> None:
    markers = {
        "sections-0-keyframe-bool-go_fast": "true",
        "sections-0-keyframe-bool-disable_safety_checker": "false",
    }
    _store(client, **markers, **ticks)
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, "autumn-sale")
    keyframe = script.sections[0].keyframe
    assert keyframe is not None and keyframe.params == expected


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"sections-0-narration": ""}, "sections-0-narration", "Section 1, narration: must not be empty"),
        ({"sections-0-id": "Hook!"}, "sections-0-id", "Section 1, section id: must be lowercase letters"),
        ({"title": ""}, "title", "Title: must not be empty"),
        ({"sections-0-still-duration_s": "-1"}, "sections-0-still-duration_s", "Section 1, still, seconds on screen: must be more than 0"),
        ({"sections-0-keyframe-param-num_outputs": "9"}, "sections-0-keyframe-param-num_outputs", "Section 1, keyframe image, pictures per request:"),
        ({"sections-0-keyframe-param-seed": "lucky"}, "sections-0-keyframe-param-seed", "Section 1, keyframe image, variation: must be a whole number"),
    ],
)  # fmt: skip
def test_errors_name_their_field(
    client: TestClient, db: Database, changes: dict[str, str], field: str, words: str
) -> None:
    fields = editor_fields(csrf=token(client), **changes)
    page = client.post("/studio/scripts/new", data=fields)
    assert page.status_code == 422
    error = re.search(
        rf'<p class="field-error" id="{re.escape(field)}-error"[^>]*>([^<]*)<', page.text
    )
    assert error is not None and words in html.unescape(error.group(1))
    estimate = client.post("/studio/scripts/estimate", data={**fields, "op": "refresh"}).text
    assert words in html.unescape(estimate)
    assert "String should have" not in page.text + estimate
    assert script_count(db) == 0


# Editing ------------------------------------------------------------------------------------


def test_an_edit_shows_its_cost_then_saves_a_new_version(
    client: TestClient, db: Database, registry: Registry
) -> None:
    _store(client)
    script = client.get("/studio/scripts/autumn-sale").text
    for link in ("edit", "duplicate", "history"):
        assert f'href="/studio/scripts/autumn-sale/{link}"' in script
    fields = _edit_fields(client)
    assert fields["base"] == "1" and fields["id"] == "autumn-sale"
    assert " readonly" in _attributes(client.get("/studio/scripts/autumn-sale/edit").text, "id")
    fields["sections-0-keyframe-prompt"] = "a shop window at night"
    estimate = client.post("/studio/scripts/autumn-sale/edit/estimate", data=fields)
    cost = usd_text(registry.get("flux-schnell").estimate_cost({}))
    assert estimate.status_code == 200 and "What this edit spends" in estimate.text
    assert cost in estimate.text

    confirm = client.post("/studio/scripts/autumn-sale/edit", data={**fields, "op": "submit"})
    assert confirm.status_code == 200, confirm.text[:500]
    assert 'id="regenerate-hook"' in confirm.text and cost in confirm.text
    with db.connect() as conn:  # nothing saved before the confirmation
        assert version_rows.latest_version(conn, "autumn-sale") == 1
    carried = re.search(r'name="document" value="([^"]*)"', confirm.text)
    assert carried is not None
    document = html.unescape(carried.group(1))
    assert json.loads(document)["sections"][0]["keyframe"]["prompt"] == "a shop window at night"
    answer = {"csrf": fields["csrf"], "base": "1", "document": document}
    back = client.post("/studio/scripts/autumn-sale/edit/confirm", data={**answer, "op": "back"})
    assert back.status_code == 200 and "a shop window at night</textarea>" in back.text
    saved = client.post(
        "/studio/scripts/autumn-sale/edit/confirm", data={**answer, "op": "save"},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == "/studio/scripts/autumn-sale"
    with db.connect() as conn:
        assert version_rows.latest_version(conn, "autumn-sale") == 2
        assert [r.current_take for r in script_rows.sections_of(conn, "autumn-sale")] == [2]
    again = client.post(
        "/studio/scripts/autumn-sale/edit/confirm", data={**answer, "op": "save"}
    )  # a second click on the same confirmation
    assert again.status_code == 409 and "version 2" in again.text
    history = client.get("/studio/scripts/autumn-sale/history").text
    assert 'id="version-2"' in history and "bootstrap" in history and "hook (keyframe)" in history
    old = client.get("/studio/scripts/autumn-sale/versions/1/script.yaml")
    assert yaml.safe_load(old.text)["sections"][0]["keyframe"]["prompt"] == "a shop window"
    assert client.get("/studio/scripts/autumn-sale/versions/3/script.yaml").status_code == 404


def test_bad_edits_are_refused_at_their_field(client: TestClient, db: Database) -> None:
    _store(client)
    fields = _edit_fields(client)
    path = "/studio/scripts/autumn-sale/edit"
    assert (
        client.post(path, data={k: v for k, v in fields.items() if k != "base"}).status_code == 422
    )
    assert client.post(path, data={**fields, "base": "x1"}).status_code == 422
    moved = client.post(path, data={**fields, "id": "elsewhere", "op": "submit"})
    assert moved.status_code == 422 and "an edit keeps the id" in moved.text
    empty = client.post(path, data={**fields, "sections-0-narration": "", "op": "submit"})
    assert empty.status_code == 422
    assert "Section 1, narration: must not be empty" in empty.text
    stale = client.post(path, data={**fields, "base": "5", "op": "submit"})
    assert stale.status_code == 409 and "open the editor again" in stale.text
    confirm = f"{path}/confirm"
    for document in ("not json", "[1, 2]", ""):
        answer = {"csrf": fields["csrf"], "base": "1", "document": document, "op": "save"}
        assert client.post(confirm, data=answer).status_code == 422
    no_token = client.post(confirm, data={"base": "1", "document": "{}", "op": "save"})
    assert no_token.status_code == 403
    with db.connect() as conn:
        assert version_rows.latest_version(conn, "autumn-sale") == 1


def test_another_workspace_s_script_is_unknown(
    build_api_app: BuildApiApp, client: TestClient, db: Database, sample_script: Script
) -> None:
    with db.connect() as conn:
        acme = create_workspace(conn, "acme", "Acme", None)
        insert_script(conn, sample_script.model_copy(update={"id": "acme-launch"}), None, acme.id)
    for path in ("edit", "duplicate", "history", "script.yaml", "versions/1/script.yaml"):
        assert client.get(f"/studio/scripts/acme-launch/{path}").status_code == 404, path
    csrf = token(client)
    copied = client.post(
        "/studio/scripts/acme-launch/duplicate", data={"csrf": csrf, "id": "stolen"}
    )
    assert copied.status_code == 404
    assert (
        client.post(
            "/studio/scripts/acme-launch/edit/confirm",
            data={"csrf": csrf, "base": "1", "document": "{}", "op": "save"},
        ).status_code
        == 404
    )
    with db.connect() as conn:
        assert script_rows.script_workspace(conn, "stolen") is None

    _, key = create_key(db, "acme-viewer", workspace="acme", role=Role.VIEWER)
    viewer = TestClient(build_api_app(api_key="k"), base_url=LOCAL_BASE_URL)
    assert (
        viewer.post("/studio/sign-in", data={"key": key}, follow_redirects=False).status_code == 303
    )
    assert viewer.get("/studio/scripts/acme-launch/history").status_code == 200
    assert viewer.get("/studio/scripts/acme-launch/edit").status_code == 403
    assert viewer.get("/studio/scripts/acme-launch/duplicate").status_code == 403
    page = viewer.get("/studio/scripts/acme-launch").text
    assert 'id="script-history"' in page and 'id="edit-script"' not in page


# Duplicates and the export ------------------------------------------------------------------


def test_a_duplicate_gets_an_id_of_its_own(client: TestClient, db: Database) -> None:
    _store(client)
    form = client.get("/studio/scripts/autumn-sale/duplicate")
    assert form.status_code == 200 and 'value="autumn-sale-copy"' in form.text
    csrf = token(client)
    path = "/studio/scripts/autumn-sale/duplicate"
    taken = client.post(path, data={"csrf": csrf, "id": "autumn-sale", "title": "Again"})
    assert taken.status_code == 409 and 'id="id-error"' in taken.text
    bad = client.post(path, data={"csrf": csrf, "id": "Not An Id"})
    assert bad.status_code == 422 and 'id="id-error"' in bad.text and "Id:" in bad.text
    missing = client.post(path, data={"csrf": csrf, "title": "x"})
    assert missing.status_code == 422
    opened = client.post(path, data={"csrf": csrf, "id": "winter-sale", "op": "edit"})
    assert opened.status_code == 200 and 'value="winter-sale"' in opened.text
    assert 'id="create-script"' in opened.text  # the new-script editor, nothing stored
    assert script_count(db) == 1
    made = client.post(
        path, data={"csrf": csrf, "id": "winter-sale", "title": "Winter sale"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303 and made.headers["location"] == "/studio/scripts/winter-sale"
    with db.connect() as conn:
        copy = script_rows.script_row(conn, "winter-sale")
        [first] = version_rows.versions_of(conn, "winter-sale")
    assert copy.title == "Winter sale" and copy.status == "queued"
    assert first.changes["duplicated_from"] == "autumn-sale"


def test_the_export_carries_the_retake_s_prompt(client: TestClient, db: Database) -> None:
    _store(client)
    with db.connect() as conn:
        script_rows.start_new_take(conn, "autumn-sale", "hook", {"prompt": "a window, lit"})
    exported = yaml.safe_load(client.get("/studio/scripts/autumn-sale/script.yaml").text)
    assert exported["sections"][0]["keyframe"]["prompt"] == "a window, lit"
    editor = client.get("/studio/scripts/autumn-sale/edit").text
    assert "a window, lit</textarea>" in editor


def test_a_voice_edit_regenerates_the_narrations_it_speaks(
    client: TestClient, db: Database
) -> None:
    """The narrated sample: the script's voice slowed down in the editor; the confirmation
    lists the two sections that voice speaks, as voice changes, not the one with its own."""
    with db.connect() as conn:
        script = Script.model_validate(yaml.safe_load(NARRATED_SCRIPT.read_text()))
        insert_script(conn, script, None, default_workspace_id(conn))
    fields = _edit_fields(client, script.id)
    assert fields["sections-2-voice-param-voice"] == "bm_george"
    assert fields["voice-param-speed"] == "1.0"
    confirm = client.post(
        f"/studio/scripts/{script.id}/edit",
        data={**fields, "voice-param-speed": "0.9", "op": "submit"},
    )
    assert confirm.status_code == 200, confirm.text[:500]
    rows = re.findall(r'<tr id="regenerate-([^"]+)"><td>[^<]*</td><td>([^<]*)</td>', confirm.text)
    assert rows == [("hook", "voice"), ("offer", "voice")]
