"""The editor keeps what it does not show: a stored script with hook variants, renditions,
delivery files, reframing and the watch page's call-to-action and end, edited in one section's
narration over plain HTTP (edit page, post, confirmation, save), is saved with all of them as
they were and only that narration changed, and only that section regenerates; the editor's
YAML export carries them too. The Output part sets renditions, reframing and the delivery
switches, each bad value refused at its field; a section with variants is named as such."""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.web.studio.test_documents import _FIELD, _edit_fields
from tests.web.studio.test_pages import editor_fields, script_count, token
from vsl_pipelines.db import script_versions as version_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import MAX_SECTIONS, Script
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.web.studio.forms import MAX_EDITOR_FIELDS, MAX_SMALL_FORM_FIELDS

SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch-variants.yaml"
SCRIPT_ID = "spring-launch-variants"
EDIT = f"/studio/scripts/{SCRIPT_ID}/edit"
WATCH: dict[str, Any] = {
    "reframe": "blur",
    "cta": {"text": "Start your free trial", "url": "https://planwise.example/trial", "at_s": 9},
    "end": {"redirect": "https://planwise.example/thanks"},
    "fps": "25",
    "poster": False,
}


def _store_variants(db: Database) -> dict[str, Any]:
    """The variants sample with every setting of issue 27 (reframing for the script and one
    section, a call-to-action, an end action), stored as version 1; its stored document."""
    written = yaml.safe_load(SAMPLE.read_text())
    written["output"].update(copy.deepcopy(WATCH))
    written["sections"][2]["reframe"] = "crop"
    script = Script.model_validate(written)
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
    return _version(db, 1)


def _version(db: Database, number: int) -> dict[str, Any]:
    with db.connect() as conn:
        row = version_rows.version_of(conn, SCRIPT_ID, number)
    assert row is not None, f"no version {number}"
    return dict(row.document)


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-error"[^>]*>([^<]*)<', page)
    assert found is not None, f"no error at {field}"
    return html.unescape(found.group(1))


def test_an_edit_keeps_variants_renditions_delivery_reframe_and_the_cta(
    client: TestClient, db: Database
) -> None:
    before = _store_variants(db)
    assert before["sections"][0]["variants"][1]["id"] == "promise"
    assert before["output"]["renditions"] == ["16:9", "9:16", "1:1"]
    page = client.get(EDIT).text
    assert "Hook variants: question, promise" in html.unescape(page)
    fields = _edit_fields(client, SCRIPT_ID)
    assert fields["sections-1-id"] == "offer"
    fields["sections-1-narration"] = "Meet Planwise: every dinner of the week, planned for you."

    estimate = client.post(f"{EDIT}/estimate", data=fields)
    assert estimate.status_code == 200 and "<tr><td>offer</td>" in estimate.text
    assert "with their takes and approvals: hook~question, hook~promise, close." in estimate.text
    confirm = client.post(EDIT, data={**fields, "op": "submit"})
    assert confirm.status_code == 200, confirm.text[:800]
    rows = re.findall(r'<tr id="regenerate-([^"]+)"><td>[^<]*</td><td>([^<]*)</td>', confirm.text)
    assert rows == [("offer", "voice")]  # the narration's voice alone, no variant, no picture
    carried = re.search(r'name="document" value="([^"]*)"', confirm.text)
    assert carried is not None
    answer = {"csrf": fields["csrf"], "base": "1", "document": html.unescape(carried.group(1))}
    saved = client.post(f"{EDIT}/confirm", data={**answer, "op": "save"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:800]

    after = _version(db, 2)
    expected = copy.deepcopy(before)
    expected["sections"][1]["narration"] = fields["sections-1-narration"]
    assert after == expected
    assert after["sections"][0]["variants"] == before["sections"][0]["variants"]
    for name in ("renditions", "delivery", "reframe", "cta", "end", "fps", "poster"):
        assert after["output"][name] == before["output"][name], name
    assert after["sections"][2]["reframe"] == "crop"


def test_the_editor_s_yaml_export_keeps_them(client: TestClient, db: Database) -> None:
    before = _store_variants(db)
    fields = _edit_fields(client, SCRIPT_ID)
    exported = client.post(EDIT, data={**fields, "op": "export"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    assert [v["id"] for v in document["sections"][0]["variants"]] == ["question", "promise"]
    assert (
        document["output"]["cta"] == WATCH["cta"] and document["sections"][2]["reframe"] == "crop"
    )
    assert (
        Script.model_validate(document).model_dump() == Script.model_validate(before).model_dump()
    )


def _edit_fields_of(page: str) -> dict[str, str]:
    """The editor's form on `page` as a browser would post it (ticked boxes, chosen options)."""
    form = page[page.index('<form id="editor"') :]
    form = form[: form.index("</form>")]
    fields: dict[str, str] = {}
    for tag, attributes in _FIELD.findall(form):
        name = re.search(r'name="([^"]+)"', attributes)
        if name is None or ('type="checkbox"' in attributes and " checked" not in attributes):
            continue
        value = re.search(r'value="([^"]*)"', attributes)
        if tag == "textarea":
            start = form.index(attributes) + len(attributes) + 1
            fields[name.group(1)] = html.unescape(form[start : form.index("</textarea>", start)])
        elif tag == "select":
            start = form.index(attributes)
            chosen = re.search(
                r'<option value="([^"]*)" selected', form[start : form.index("</select>", start)]
            )
            fields[name.group(1)] = html.unescape(chosen.group(1)) if chosen else ""
        else:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else "on"
    return {k: v for k, v in fields.items() if v}


def _names(page: str) -> list[str]:
    form = page[page.index('<form id="editor"') :]
    return re.findall(
        r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', form[: form.index("</form>")]
    )


def test_the_output_part_sets_renditions_reframe_and_delivery(
    client: TestClient, db: Database
) -> None:
    page = html.unescape(client.get("/studio/scripts/new").text)
    for words in (
        "Versions for", "16:9 landscape", "9:16 portrait (Reels, Shorts, TikTok)",
        "1:1 square (feeds)", "Fill other shapes by", "cropping around the subject",
        "a blurred background", "For landing pages", "adaptive streaming (HLS)", "a poster",
    ):  # fmt: skip
        assert words in page, words
    chosen = {
        "output-renditions-0": "9:16",  # the main video first, as ticked
        "output-renditions-1": "16:9",
        "output-reframe": "blur",
        "output-delivery-hls": "on",
        "output-delivery-captions-1": "srt",
        "output-delivery-poster": "on",
    }
    fields = editor_fields(csrf=token(client), **chosen)
    estimate = client.post("/studio/scripts/estimate", data={**fields, "op": "refresh"})
    assert estimate.status_code == 200 and 'class="total"' in estimate.text
    stored = client.post("/studio/scripts/new", data=fields, follow_redirects=False)
    assert stored.status_code == 303, stored.text[:800]
    with db.connect() as conn:
        output = script_rows.load_stored_script(conn, "autumn-sale").output
    assert output.renditions == ["9:16", "16:9"] and output.reframe == "blur"
    assert output.delivery.model_dump() == {
        "hls": True, "captions": ["srt"], "chapters": False, "poster": True,
    }  # fmt: skip
    # The edit page ticks them in the script's order; unticking all of them saves none.
    edit = _edit_fields(client, "autumn-sale")
    assert edit["output-renditions-0"] == "9:16" and edit["output-renditions-1"] == "16:9"
    assert "output-renditions-2" not in edit and edit["output-reframe"] == "blur"
    assert edit["output-delivery-captions-0"] == "srt" and edit["output-delivery-hls"] == "on"
    unticked = {k: v for k, v in edit.items() if not k.startswith("output-renditions-")}
    exported = client.post("/studio/scripts/autumn-sale/edit", data={**unticked, "op": "export"})
    assert "renditions" not in yaml.safe_load(exported.text)["output"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"output-reframe": "zoom"}, "output-reframe", "Fill other shapes by:"),
        ({"output-renditions-0": "4:3"}, "output-renditions", "Versions for: unknown aspect '4:3'"),
        ({"output-renditions-0": "1:1", "output-renditions-1": "1:1"}, "output-renditions", "Versions for: '1:1' listed more than once"),
        ({"output-delivery-captions-0": "pdf"}, "output-delivery", "For landing pages:"),
        ({"output-delivery-hls": "maybe"}, "output-delivery", "For landing pages: must be on or off"),
    ],
)  # fmt: skip
def test_bad_output_values_are_refused_at_their_field(
    client: TestClient, db: Database, changes: dict[str, str], field: str, words: str
) -> None:
    fields = editor_fields(csrf=token(client), **changes)
    page = client.post("/studio/scripts/new", data=fields)
    assert page.status_code == 422
    assert words in _field_error(page.text, field)
    assert 'aria-describedby="' in page.text and f"{field}-error" in page.text
    estimate = client.post("/studio/scripts/estimate", data={**fields, "op": "refresh"}).text
    assert words in html.unescape(estimate)
    assert script_count(db) == 0
    # The same at the edit of a stored script: refused at the field, nothing saved.
    _store_variants(db)
    edit = _edit_fields(client, SCRIPT_ID)
    refused = client.post(EDIT, data={**edit, **changes, "op": "submit"})
    assert refused.status_code == 422 and words in _field_error(refused.text, field)
    with db.connect() as conn:
        assert version_rows.latest_version(conn, SCRIPT_ID) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kept", "not json"),
        ("kept", "[1, 2]"),
        ("sections-1-kept", '"a string"'),
        ("sections-0-kept", "[" * 5000 + "]" * 5000),
        ("kept", '{"output": {"fps": NaN}}'),
        ("kept", json.dumps({"a": {"b": "x\u0000y"}})),
    ],
)
def test_a_tampered_kept_field_is_a_422(
    client: TestClient, db: Database, name: str, value: str
) -> None:
    _store_variants(db)
    fields = _edit_fields(client, SCRIPT_ID)
    for path in (EDIT, f"{EDIT}/estimate", "/studio/scripts/estimate"):
        answer = client.post(path, data={**fields, name: value, "op": "submit"})
        assert answer.status_code == 422, (path, answer.text[:300])
        assert name in answer.text
    with db.connect() as conn:
        assert version_rows.latest_version(conn, SCRIPT_ID) == 1


def test_a_kept_part_is_checked_as_the_script_and_cannot_override_a_field(
    client: TestClient, db: Database
) -> None:
    before = _store_variants(db)
    fields = _edit_fields(client, SCRIPT_ID)
    kept = json.loads(fields["kept"])
    assert "renditions" not in kept["output"] and kept["output"]["cta"] == WATCH["cta"]
    bad_link = {
        **kept,
        "output": {**kept["output"], "cta": {**WATCH["cta"], "url": "javascript:x"}},
    }
    refused = client.post(EDIT, data={**fields, "kept": json.dumps(bad_link), "op": "submit"})
    assert refused.status_code == 422
    assert "must be an http or https URL" in _field_error(refused.text, "output")
    # A shown field's value in the hidden part does not win over the field.
    sneaky = {**kept, "title": "Other", "output": {**kept["output"], "format": "avi"}}
    answer = client.post(EDIT, data={**fields, "kept": json.dumps(sneaky), "op": "export"})
    exported = yaml.safe_load(answer.text)
    assert exported["title"] == before["title"] and exported["output"]["format"] == "mp4"


def test_variants_imported_into_the_new_script_editor_are_stored(
    client: TestClient, db: Database
) -> None:
    csrf = token(client)
    page = client.post("/studio/scripts/import", data={"csrf": csrf, "yaml": SAMPLE.read_text()})
    assert page.status_code == 200
    assert "Hook variants: question, promise" in html.unescape(page.text)
    assert 'name="sections-0-narration"' not in page.text  # not flattened into one section
    fields = _edit_fields_of(page.text)
    stored = client.post(
        "/studio/scripts/new", data={**fields, "op": "submit"}, follow_redirects=False
    )
    assert stored.status_code == 303, stored.text[:800]
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, SCRIPT_ID)
    assert [cut.key for cut in script.cuts()] == ["hook=question", "hook=promise"]
    assert script.output.renditions == ["16:9", "9:16", "1:1"]
    assert script.output.delivery.captions == ["vtt", "srt"]


def test_the_editor_stays_within_its_field_limit(client: TestClient, db: Database) -> None:
    """A script of the most sections, each a keyframe animated into a clip with its own voice
    and reframing, posts back within the editor's field limit (not the small forms')."""
    written = yaml.safe_load(SAMPLE.read_text())
    close = written["sections"][2]
    written["budget_usd"] = 1_000
    written["sections"] = [{**close, "id": f"s{n}", "reframe": "blur"} for n in range(MAX_SECTIONS)]
    with db.connect() as conn:
        insert_script(conn, Script.model_validate(written), None, default_workspace_id(conn))
    page = client.get(EDIT)
    names = _names(page.text)
    assert MAX_SMALL_FORM_FIELDS < len(names) <= MAX_EDITOR_FIELDS, len(names)
    fields = _edit_fields(client, SCRIPT_ID)
    estimate = client.post(f"{EDIT}/estimate", data=fields)
    assert estimate.status_code == 200 and "Nothing is generated" in estimate.text


def test_a_confirmation_nested_past_the_parser_s_depth_is_a_422(
    client: TestClient, db: Database
) -> None:
    _store_variants(db)
    fields = _edit_fields(client, SCRIPT_ID)
    answer = {"csrf": fields["csrf"], "base": "1", "document": "[" * 100_000, "op": "save"}
    refused = client.post(f"{EDIT}/confirm", data=answer)
    assert refused.status_code == 422 and "document must be the edited script" in refused.text
    with db.connect() as conn:
        assert version_rows.latest_version(conn, SCRIPT_ID) == 1
