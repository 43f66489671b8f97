"""A script's page over plain HTTP: the "Compile again" form starts from the script's options
(read as a browser would submit it), and posting it untouched keeps them; each prediction's
estimate and actual cost."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.connection import Conn
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
        "reframe": "",  # the script sets none (no renditions, no boxes ticked)
    }
    # The transitions in the editor's words, not FFmpeg's codes.
    form = page.text.split('id="compile-transition"', 1)[1].split("</select>", 1)[0]
    assert '<option value="fade:1.0" selected>Cross-fade (1.0 s)</option>' in form
    assert '<option value="wipeleft:0.5">Wipe to the left</option>' in form
    assert ">wipeleft" not in form and ">fade:" not in form
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


def _job(
    conn: Conn,
    prediction: dict[str, object] | None,
    *,
    section: str = "hook",
    stage: str = "clip",
    take: int = 1,
    estimate: float = 0.0195,
) -> None:
    """A job of the section with its prediction (None: never created, its create failed)."""
    job = job_rows.reserve_job(
        conn,
        script_id=SCRIPT,
        section_id=section,
        stage=stage,
        take=take,
        model_id="stability-video",
        model_input={"take": take},
        estimated_cost_usd=estimate,
        pricing={"basis": "hardware", "hardware": "gpu-l40s"},
    )
    if prediction is None:
        job_rows.mark(conn, job.id, "failed", error="create refused")
    else:
        job_rows.attach_prediction(conn, job.id, prediction)


def test_the_script_page_shows_each_prediction_s_estimate_and_cost(
    client: TestClient, db: Database, stored_script: Script
) -> None:
    """Per take, retake and failed prediction: the estimate and what Replicate billed
    (predict_time x the hardware's rate), a never-created one at $0, one still running
    without a cost, and the totals of each kind."""
    with db.connect() as conn:
        done = {"status": "succeeded", "metrics": {"predict_time": 10.0}, "output": ["x.mp4"]}
        _job(conn, {"id": "p-take", **done})  # 10 s x $0.000975 = $0.00975
        _job(conn, {"id": "p-fail", "status": "failed", "metrics": {"predict_time": 4.0}})
        _job(conn, None)  # attempt 3: never created
        _job(conn, {"id": "p-retake", **done}, take=2)
        _job(conn, {"id": "p-run", "status": "processing"}, section="close")
    page = client.get(PAGE)
    assert page.status_code == 200, page.text[:500]
    costs = page.text[page.text.index('id="costs"') :]
    rows = re.findall(r'<tr class="cost-line cost-(\w+)">(.*?)</tr>', costs, re.S)
    cells = [(kind, re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)) for kind, html in rows]
    assert [(kind, c[0], c[1], c[3], c[4]) for kind, c in cells] == [
        ("take", "hook", "clip take 1", "succeeded", "$0.0195"),
        ("failed", "hook", "clip take 1 · attempt 2", "failed", "$0.0195"),
        ("failed", "hook", "clip take 1 · attempt 3", "failed", "$0.00"),
        ("retake", "hook", "clip take 2 (retake)", "succeeded", "$0.0195"),
        ("take", "close", "clip take 1", "processing", "$0.0195"),
    ]
    actual = [re.sub(r"<[^>]+>", "", c[5]).strip() for _, c in cells]
    assert actual == ["$0.00975", "$0.0039", "$0.00 (not created)", "$0.00975", "running"]
    totals = re.findall(r'<tr class="cost-total"[^>]*>(.*?)</tr>', costs, re.S)
    text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", t)).strip() for t in totals]
    assert text == [
        "First takes (2 predictions) $0.039 $0.00975 + 1 running",
        "Retakes (1 prediction) $0.0195 $0.00975",
        "Failed predictions (2 predictions) $0.0195 $0.0039",
        "Total (5 predictions) $0.078 $0.0234 + 1 running",
    ]
