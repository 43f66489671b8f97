"""A script's page over plain HTTP: the "Compile again" form starts from the script's options
(read as a browser would submit it), and posting it untouched keeps them."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import Output, Script
from vsl_pipelines.services.compilation import requested_output
from vsl_pipelines.services.review import decide

SCRIPT = "spring-launch"
PAGE = f"/studio/scripts/{SCRIPT}"
SECTIONS = ("hook", "offer", "close")


class FormFields(HTMLParser):
    """What a browser submits for the form `form_id` as the page shows it: text and hidden
    inputs, ticked boxes, each select's selected option (else its first)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.first: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[name] = a.get("value") or ("on" if a.get("type") == "checkbox" else "")
        elif tag == "select" and name:
            self.select, self.first = name, None
        elif tag == "option" and self.select:
            value = a.get("value") or ""
            if self.first is None:
                self.first = value
                self.fields.setdefault(self.select, value)
            if "selected" in a:
                self.fields[self.select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        elif tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str) -> dict[str, str]:
    reader = FormFields(form_id)
    reader.feed(html)
    return reader.fields


@pytest.fixture
def captioned(db: Database, sample_script: Script) -> Script:
    """The sample script with captions and a transition of its own, every section approved,
    compiled once before at `high` quality."""
    script = sample_script.model_copy(
        update={"output": Output(captions=True, transition="fade:1.0")}
    )
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
        for section in SECTIONS:
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
        row = compilation_rows.request_compilation(
            conn, SCRIPT, output_format="mp4", quality="high", options={}, requested_by="t"
        )
        assert row is not None
        compilation_rows.fail_compilation(conn, row.id, "the test's")
    return script


def _new_compilation(db: Database) -> compilation_rows.CompilationRow:
    with db.connect() as conn:
        return compilation_rows.compilations_of(conn, SCRIPT)[0]


def test_compile_again_starts_from_the_script_s_options_and_keeps_them(
    client: TestClient, db: Database, captioned: Script
) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200, page.text[:500]
    fields = form_fields(page.text, "compile-form")
    assert fields.pop("csrf")
    assert fields == {
        "format": "mp4",
        "quality": "high",  # the last compilation's
        "size": "",  # the script sets none: the clips' own
        "transition": "fade:1.0",  # the script's, though not one of the offered choices
        "captions": "on",
    }
    posted = client.post(
        f"{PAGE}/compile", data=form_fields(page.text, "compile-form"), follow_redirects=False
    )
    assert posted.status_code == 303, posted.text[:500]
    row = _new_compilation(db)
    assert (row.status, row.quality, row.options) == ("requested", "high", {})
    output = requested_output(captioned.output, row)
    assert output.captions and output.transition == "fade:1.0"


def test_compile_again_in_another_format_keeps_captions(
    client: TestClient, db: Database, captioned: Script
) -> None:
    page = client.get(PAGE).text
    fields = {**form_fields(page, "compile-form"), "format": "webm", "quality": "draft"}
    assert client.post(f"{PAGE}/compile", data=fields, follow_redirects=False).status_code == 303
    row = _new_compilation(db)
    assert (row.output_format, row.quality, row.options) == ("webm", "draft", {})
    assert requested_output(captioned.output, row).captions
    # Unticking the box is what turns captions off.
    with db.connect() as conn:
        compilation_rows.fail_compilation(conn, row.id, "the test's")
    del fields["captions"]
    assert client.post(f"{PAGE}/compile", data=fields, follow_redirects=False).status_code == 303
    assert _new_compilation(db).options == {"captions": False}
    bad = client.post(f"{PAGE}/compile", data={**fields, "quality": "best"})
    assert bad.status_code == 422
