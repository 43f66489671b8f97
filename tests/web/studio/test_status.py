"""What the studio says is happening, over plain HTTP against real rows: queued (since when,
when the schedule picks it up), generating (stages, predictions, a retake), waiting for review
(how many decisions), failed (why), compiling, compiled; the Final video card says what the
video waits for; the scripts list's fragment is polled only while a script is active."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

from fastapi.testclient import TestClient

from tests.fixtures.api import add_clip
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.cron import next_tick
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import apply_rejection, decide

SCRIPT = "spring-launch"
PAGE = f"/studio/scripts/{SCRIPT}"
POLLED = 'hx-get="/studio/live" hx-trigger="every 3s"'


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())


def _row(html: str) -> str:
    """The list's row of the script, as text."""
    found = re.search(rf"<tr>\s*<td data-label=\"Script\"><a href=\"{PAGE}\">.*?</tr>", html, re.S)
    assert found is not None, html[:2000]
    return _text(found.group(0))


def _status_line(html: str) -> str:
    found = re.search(r'<div class="status-line" id="status-line">(.*?)</div>', html, re.S)
    assert found is not None
    return _text(found.group(1))


def _final(html: str) -> str:
    return _text(
        html[html.index('id="final"') : html.index("</section>", html.index('id="final"'))]
    )


def _job(conn: Conn, section: str, stage: str, take: int, status: str, prediction: str) -> None:
    job = job_rows.reserve_job(
        conn,
        script_id=SCRIPT,
        section_id=section,
        stage=stage,
        take=take,
        model_id="flux-schnell",
        model_input={"prompt": prediction},
        estimated_cost_usd=0.003,
        pricing={"basis": "output", "usd": 0.003},
    )
    job_rows.attach_prediction(conn, job.id, {"id": prediction, "status": status})


def test_a_queued_script_says_since_when_and_when_the_schedule_picks_it_up(
    client: TestClient, stored_script: Script
) -> None:
    before = datetime.now(UTC)
    listed = client.get("/studio").text
    after = datetime.now(UTC)
    row = _row(listed)
    assert re.search(r"Queued since \d\d:\d\d UTC", row), row
    ticks = {next_tick("*/5 * * * *", t) for t in (before, after)}
    assert any(
        f"the generation schedule picks it up at {t:%H:%M} UTC" in row for t in ticks if t
    ), row
    assert POLLED in listed, "a queued script is active: the list polls"
    fragment = client.get("/studio/live")
    assert fragment.status_code == 200 and "<nav" not in fragment.text
    assert 'id="scripts-live"' in fragment.text
    assert "Queued since" in _row(fragment.text)
    assert 'id="scripts-live"' in client.get("/studio/live?status=compiled").text
    assert SCRIPT not in client.get("/studio/live?status=compiled").text


def test_generating_says_which_stages_run_and_that_a_retake_is_on_its_way(
    client: TestClient, db: Database, stored_script: Script
) -> None:
    add_clip(db, SCRIPT, "hook")
    with db.connect() as conn:
        script_rows.set_status(conn, SCRIPT, "generating")
        rejection = decide(conn, SCRIPT, "hook", "rejected", prompt="brighter")
        assert apply_rejection(conn, rejection) == 2
        _job(conn, "hook", "keyframe", 2, "starting", "p-key")
        _job(conn, "close", "clip", 1, "processing", "p-clip")
        _job(conn, "close", "keyframe", 1, "succeeded", "p-done")
    page = client.get(PAGE).text
    line = _status_line(page)
    assert "Generating: 2 predictions running (keyframe 1, clip 1)" in line
    assert "A retake of hook is on its way." in line
    final = _final(page)
    assert "A retake of hook is on its way: review it, then the video compiles." in final
    assert "Approve every section" not in final
    listed = client.get("/studio").text
    assert "Generating: 2 predictions running" in _row(listed) and POLLED in listed


def test_review_counts_the_decisions_waiting(
    client: TestClient, db: Database, stored_script: Script
) -> None:
    for section in ("hook", "offer", "close"):
        add_clip(db, SCRIPT, section)
    with db.connect() as conn:
        script_rows.set_status(conn, SCRIPT, "review")
        decide(conn, SCRIPT, "hook", "approved")
    page = client.get(PAGE).text
    assert _status_line(page) == "Waiting for review: 2 decisions"
    assert (
        "Approve every section's take (and its narration, when voiced) to compile:"
        " 2 decisions waiting." in _final(page)
    )
    listed = client.get("/studio").text
    assert "Waiting for review: 2 decisions" in _row(listed)
    assert 'data-active="0"' in listed and "hx-trigger" not in listed.split('id="scripts-live"')[1]


def test_a_failed_script_says_why_and_the_final_card_does_not_ask_for_approvals(
    client: TestClient, db: Database, stored_script: Script
) -> None:
    add_clip(db, SCRIPT, "hook")
    reason = "close/keyframe (flux-schnell) failed after 3 attempts: NSFW content detected"
    with db.connect() as conn:
        script_rows.set_status(conn, SCRIPT, "generating")
        assert script_rows.fail_script(conn, SCRIPT, reason)
    page = client.get(PAGE).text
    assert f"Generation failed: {reason}" in _text(page) and 'id="retry-form"' in page
    final = _final(page)
    assert "Generation failed (see above): retry it" in final
    assert "Approve every section" not in final
    row = _row(client.get("/studio").text)
    assert f"Failed: {reason}" in row and "Retry the failed predictions" in row
    assert "1 decision waiting for review." in row


def test_compiling_then_compiled(client: TestClient, db: Database, stored_script: Script) -> None:
    for section in ("hook", "offer", "close"):
        add_clip(db, SCRIPT, section)
    with db.connect() as conn:
        for section in ("hook", "offer", "close"):
            decide(conn, SCRIPT, section, "approved")
        script_rows.set_status(conn, SCRIPT, "review")
    listed = client.get("/studio").text
    assert "Every take approved: the compile starts in a moment" in _row(listed)
    assert POLLED in listed
    with db.connect() as conn:
        row = compilation_rows.request_compilation(
            conn, SCRIPT, output_format="webm", quality="draft", options={}, requested_by="t"
        )
        assert row is not None
        assert compilation_rows.claim_compilation(conn, row.id, SCRIPT) is not None
        script_rows.set_status(conn, SCRIPT, "compiling")
    listed = client.get("/studio").text
    assert re.search(rf"Compiling \(compilation {row.id}, since \d\d:\d\d UTC\)", _row(listed))
    assert POLLED in listed
    with db.connect() as conn:
        compilation_rows.finish_compilation(
            conn,
            row.id,
            output_key="k.webm",
            output_uri="file:///k.webm",
            duration_s=3.0,
            size_bytes=10,
            clip_count=3,
            cost_usd=0.0,
            plan={},
        )
        script_rows.set_status(conn, SCRIPT, "compiled")
    listed = client.get("/studio").text
    assert "Compiled (webm)" in _row(listed) and 'data-active="0"' in listed
