"""A voiced section on the studio's script page over plain HTTP, with real media in the store:
the section plays as it will sound (the preview of clip and voice once rendered, else the
clip and the voice side by side), its narration is approved or rejected on its own through
the page's forms (corrected words, a changed voice or speed), and the editor keeps the
script's `output.timing`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.fixtures.media import ClipFactory
from tests.fixtures.scripts import NARRATED_SCRIPT, store_take
from tests.web.studio.test_pages import editor_fields, script_count, token
from vsl_pipelines.db.approvals import decisions_after
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, load_script
from vsl_pipelines.services.previews import preview_key
from vsl_pipelines.services.review import apply_rejection, review_queue
from vsl_pipelines.storage.local import LocalMediaStore

NARRATED = NARRATED_SCRIPT
SCRIPT = "spring-launch-narrated"
PAGE = f"/studio/scripts/{SCRIPT}"


@pytest.fixture
def narrated(
    db: Database,
    registry: Registry,
    api_media_store: LocalMediaStore,
    make_clip: ClipFactory,
    make_voice: Callable[..., Path],
) -> Script:
    """The narrated sample with a clip and a voice for every section's first takes, and the
    hook's preview rendered (a real MP4 at its key); the other sections' previews are not."""
    script = load_script(NARRATED, registry)
    with db.connect() as conn:
        insert_script(conn, script, str(NARRATED), default_workspace_id(conn))
    clip, voice = make_clip(seconds=1.0), make_voice(seconds=1.0)
    for section in ("hook", "offer", "close"):
        store_take(db, api_media_store, SCRIPT, section, "clip", 1, clip)
        store_take(db, api_media_store, SCRIPT, section, "narration", 1, voice)
    api_media_store.put_file(preview_key(SCRIPT, "hook", 1, 1), make_clip(seconds=1.2))
    return script


def section_html(page: str, section: str) -> str:
    found = re.search(
        rf'<section class="card take-row" id="section-{section}".*?</section>', page, re.S
    )
    assert found is not None, f"no section {section}"
    return found.group(0)


def approvals(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return list(conn.execute("SELECT * FROM approvals ORDER BY id").fetchall())


def test_a_voiced_section_plays_as_it_will_sound(
    client: TestClient, narrated: Script, api_media_store: LocalMediaStore
) -> None:
    """The hook's preview exists: one video of clip and voice, labelled so. The offer's does
    not yet: its clip and an audio player of its voice side by side. Both show the narration
    take, the words spoken, the voice and speed, and the narration's forms with the voice's
    choices (the current one selected) and the speed's bounds."""
    page = client.get(PAGE)
    assert page.status_code == 200, page.text[:500]
    hook = section_html(page.text, "hook")
    preview_url = api_media_store.public_url(preview_key(SCRIPT, "hook", 1, 1))
    assert 'id="preview-hook-c1-n1" hx-preserve="true"' in hook and preview_url in hook
    assert "As it will sound: clip take 1 with narration take 1" in hook
    assert "<audio" not in hook  # the preview carries the voice
    offer = section_html(page.text, "offer")
    assert 'id="clip-offer-1"' in offer and 'id="preview-offer' not in offer
    assert re.search(r'<audio id="voice-offer-1" hx-preserve="true" controls', offer)
    assert api_media_store.public_url(f"scripts/{SCRIPT}/offer/narration-v1.wav") in offer
    assert "the preview with the clip is being rendered" in offer
    for html in (hook, offer):
        assert "Narration · take 1" in html
        assert "kokoro-82m · voice af_bella · speed 1.0" in html
    assert "Meet Planwise: a week of dinners planned in ten minutes." in offer
    close = section_html(page.text, "close")
    assert "voice bm_george · speed 1.1" in close  # the section's own voice
    assert '<option value="bm_george" selected>' in close
    assert 'id="approve-voice-close-1"' in close and 'id="reject-voice-close-1"' in close
    speed = re.search(r'<input id="reject-voice-speed-close"[^>]*>', close)
    assert speed is not None
    assert 'value="1.1"' in speed.group(0) and 'min="0.1"' in speed.group(0)
    assert 'max="5"' in speed.group(0) and 'step="any"' in speed.group(0)  # 0.8 is a speed
    text = re.search(r'<textarea id="reject-voice-text-close"[^>]*></textarea>', close)
    assert text is not None and 'maxlength="' in text.group(0)
    # Nothing is approved yet: the compile waits for clips and narrations alike.
    assert "Approve every section" in page.text


def test_narration_decisions_through_the_forms(
    client: TestClient, narrated: Script, db: Database
) -> None:
    """Approving a narration records a narration decision on the take shown; rejecting one
    records the corrected words and only the changed voice parameters, and leaves the clip
    undecided (still in the review queue)."""
    csrf = token(client, PAGE)
    approved = client.post(
        f"{PAGE}/sections/hook/approve",
        data={"csrf": csrf, "take": "1", "subject": "narration", "note": "lovely"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text[:500]
    rejected = client.post(
        f"{PAGE}/sections/close/reject",
        data={
            "csrf": csrf,
            "take": "1",
            "subject": "narration",
            "note": "too fast",
            "text": "Start your free trial today.",
            "voice": "bm_george",  # unchanged: no override
            "speed": "0.9",
        },
        follow_redirects=False,
    )
    assert rejected.status_code == 303, rejected.text[:500]
    rows = approvals(db)
    assert [(r["section_id"], r["subject"], r["take"], r["decision"]) for r in rows] == [
        ("hook", "narration", 1, "approved"),
        ("close", "narration", 1, "rejected"),
    ]
    assert rows[0]["note"] == "lovely"
    assert rows[1]["params"] == {"speed": 0.9}
    assert rows[1]["text"] == "Start your free trial today."
    assert rows[1]["note"] == "too fast"
    with db.connect() as conn:
        queue = {(i["section"], i["subject"]) for i in review_queue(conn, SCRIPT)}
    assert ("close", "clip") in queue and ("hook", "clip") in queue  # clips still to decide
    assert ("close", "narration") not in queue and ("hook", "narration") not in queue
    page = client.get(PAGE)
    close = section_html(page.text, "close")
    assert "Narration · take 1 · " in close and "decision-rejected" in close
    assert 'id="reject-voice-close-1"' not in close  # decided: no form
    assert 'id="reject-close-1"' in close  # the clip's forms stay
    assert 'hx-trigger="every 2s"' in page.text  # the new narration take is awaited


def test_a_rejected_narration_comes_back_with_its_history(
    client: TestClient,
    narrated: Script,
    db: Database,
    api_media_store: LocalMediaStore,
    make_voice: Callable[..., Path],
) -> None:
    """Once the rejection's new take arrives, the page shows it with the corrected words and
    speed, offers its forms (take 2), and lists take 1 with its audio, decision, note and the
    words it spoke; the clip is still on its take 1. A form of take 1 is refused (409)."""
    csrf = token(client, PAGE)
    client.post(
        f"{PAGE}/sections/offer/reject",
        data={
            "csrf": csrf,
            "take": "1",
            "subject": "narration",
            "note": "say it slower",
            "text": "Meet Planwise.",
            "voice": "af_bella",
            "speed": "0.8",
        },
        follow_redirects=False,
    )
    with db.connect() as conn:
        (rejection,) = decisions_after(conn, 0, 10)
        assert apply_rejection(conn, rejection) == 2  # what the approval sensor does
        conn.commit()
    store_take(db, api_media_store, SCRIPT, "offer", "narration", 2, make_voice(seconds=1.5))
    page = client.get(PAGE)
    offer = section_html(page.text, "offer")
    assert "Narration · take 2" in offer and 'id="voice-offer-2"' in offer
    assert '<q id="spoken-offer">Meet Planwise.</q>' in offer
    assert "voice af_bella · speed 0.8" in offer
    assert 'id="reject-voice-offer-2"' in offer and 'id="approve-voice-offer-2"' in offer
    assert "Section offer · take 1" in offer  # the clip's take is unchanged
    assert "Earlier narration takes (1)" in offer
    old = re.search(r'<li class="old-narration">.*?</li>', offer, re.S)
    assert old is not None
    assert "Narration take 1" in old.group(0) and "rejected" in old.group(0)
    assert "say it slower" in old.group(0)
    assert "Meet Planwise: a week of dinners planned in ten minutes." in old.group(0)
    assert 'id="old-voice-offer-1"' in old.group(0) and "narration-v1.wav" in old.group(0)
    stale = client.post(
        f"{PAGE}/sections/offer/approve",
        data={"csrf": csrf, "take": "1", "subject": "narration"},
        follow_redirects=False,
    )
    assert stale.status_code == 409, stale.text[:500]
    assert "no longer under review" in stale.text
    assert len(approvals(db)) == 1


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"speed": "9"}, "speed"),
        ({"speed": "fast"}, "speed: must be a number"),
        ({"voice": "zz_nobody"}, "voice"),
        ({"text": "x" * 20_000}, "text"),
        ({"prompt": "a new picture"}, "prompt"),
        ({"subject": "soundtrack"}, "subject"),
    ],
)
def test_a_bad_narration_rejection_is_422_naming_its_field(
    client: TestClient,
    narrated: Script,
    db: Database,
    fields: dict[str, str],
    words: str,
) -> None:
    csrf = token(client, PAGE)
    refused = client.post(
        f"{PAGE}/sections/hook/reject",
        data={"csrf": csrf, "take": "1", "subject": "narration", **fields},
        follow_redirects=False,
    )
    assert refused.status_code in (413, 422), refused.text[:500]
    if refused.status_code == 422:
        assert words in refused.text
        assert "<html" in refused.text  # an error page, as the other forms'
    assert approvals(db) == []


def test_an_out_of_range_speed_names_it(client: TestClient, narrated: Script) -> None:
    csrf = token(client, PAGE)
    refused = client.post(
        f"{PAGE}/sections/hook/reject",
        data={"csrf": csrf, "take": "1", "subject": "narration", "speed": "9"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert re.search(r"params\.speed: [^<]*maximum", refused.text), refused.text[:2000]


def test_a_stale_narration_take_is_409(client: TestClient, narrated: Script, db: Database) -> None:
    csrf = token(client, PAGE)
    stale = client.post(
        f"{PAGE}/sections/hook/reject",
        data={"csrf": csrf, "take": "2", "subject": "narration", "speed": "1.2"},
        follow_redirects=False,
    )
    assert stale.status_code == 409, stale.text[:500]
    assert approvals(db) == []


def test_a_section_is_approved_once_clip_and_narration_are(
    client: TestClient, narrated: Script, db: Database
) -> None:
    """`all_approved` waits for every narration too: every clip approved is not enough."""
    csrf = token(client, PAGE)
    for section in ("hook", "offer", "close"):
        clip = client.post(
            f"{PAGE}/sections/{section}/approve",
            data={"csrf": csrf, "take": "1"},
            follow_redirects=False,
        )
        assert clip.status_code == 303, clip.text[:500]
    page = client.get(PAGE)
    assert "Approve every section" in page.text and 'id="compile-form"' not in page.text
    for section in ("hook", "offer", "close"):
        voice = client.post(
            f"{PAGE}/sections/{section}/approve",
            data={"csrf": csrf, "take": "1", "subject": "narration"},
            follow_redirects=False,
        )
        assert voice.status_code == 303, voice.text[:500]
    page = client.get(PAGE)
    assert "Every take is approved" in page.text and 'id="compile-form"' in page.text
    assert {r["subject"] for r in approvals(db)} == {"clip", "narration"}


def test_a_section_without_a_voice_has_no_narration(
    client: TestClient, stored_script: Script, db: Database
) -> None:
    from tests.fixtures.api import add_clip

    add_clip(db, "spring-launch", "hook")
    page = client.get("/studio/scripts/spring-launch")
    assert page.status_code == 200
    assert "Narration ·" not in page.text and "<audio" not in page.text
    refused = client.post(
        "/studio/scripts/spring-launch/sections/hook/approve",
        data={"csrf": token(client, "/studio/scripts/spring-launch"), "subject": "narration"},
        follow_redirects=False,
    )
    assert refused.status_code == 422 and "has no voice" in refused.text
    assert approvals(db) == []


# The editor's output.timing -----------------------------------------------------------------


def test_the_editor_names_each_field_once(client: TestClient) -> None:
    """With a soundtrack and a voice chosen, each model select is in the form once (a field
    given twice is refused, so the browser's submit would fail)."""
    page = client.post(
        "/studio/scripts/import", data={"csrf": token(client), "yaml": NARRATED.read_text()}
    )
    assert page.status_code == 200, page.text[:500]
    editor = page.text[page.text.index('<form id="editor"') :]
    editor = editor[: editor.index("</form>")]
    names = re.findall(r'<(?:input|select|textarea)[^>]* name="([^"]+)"', editor)
    assert "voice-model" in names and "soundtrack-model" in names
    assert "voice-param-speed" in names and "sections-2-voice-model" in names
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    # A speed of 0.1 to 5 (default 1) takes any number, not whole steps from 0.1.
    assert re.search(r'id="voice-param-speed"[^>]*step="any"', editor)


def test_output_timing_round_trips_through_the_editor(client: TestClient, db: Database) -> None:
    """An imported script's timing fills the editor's fields; exported and stored again from
    those fields, it is unchanged."""
    document = yaml.safe_load(NARRATED.read_text())
    document["output"]["timing"] = {
        "pad_s": 0.25,
        "fit": "loop",
        "max_slowdown": 2.0,
        "clip_audio": "lower",
        "lowered_db": -10.0,
    }
    csrf = token(client)
    page = client.post(
        "/studio/scripts/import", data={"csrf": csrf, "yaml": yaml.safe_dump(document)}
    )
    assert page.status_code == 200, page.text[:500]
    assert re.search(r'id="output-timing-pad_s"[^>]*value="0.25"', page.text)
    assert re.search(r'id="output-timing-max_slowdown"[^>]*value="2.0"', page.text)
    assert '<option value="loop" selected>' in page.text
    assert '<option value="lower" selected>' in page.text
    assert re.search(r'id="output-timing-lowered_db"[^>]*value="-10.0"', page.text)
    timing = {
        "output-timing-pad_s": "0.25",
        "output-timing-fit": "loop",
        "output-timing-max_slowdown": "2.0",
        "output-timing-clip_audio": "lower",
        "output-timing-lowered_db": "-10.0",
    }
    exported = client.post(
        "/studio/scripts/new", data=editor_fields(csrf=csrf, op="export", **timing)
    )
    assert exported.status_code == 200
    assert yaml.safe_load(exported.text)["output"]["timing"] == document["output"]["timing"]
    stored = client.post(
        "/studio/scripts/new", data=editor_fields(csrf=csrf, **timing), follow_redirects=False
    )
    assert stored.status_code == 303, stored.text[:500]
    with db.connect() as conn:
        saved = conn.execute("SELECT document FROM scripts").fetchone()["document"]
    assert saved["output"]["timing"] == document["output"]["timing"]
    again = client.get("/studio/scripts/autumn-sale/script.yaml")
    assert yaml.safe_load(again.text)["output"]["timing"] == document["output"]["timing"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pad_s", "9"),
        ("max_slowdown", "0.5"),
        ("fit", "stretch"),
        ("clip_audio", "loud"),
        ("lowered_db", "-99"),
    ],
)
def test_a_bad_timing_value_is_shown_at_its_field(
    client: TestClient, db: Database, field: str, value: str
) -> None:
    name = f"output-timing-{field}"
    page = client.post(
        "/studio/scripts/new", data=editor_fields(csrf=token(client), **{name: value})
    )
    assert page.status_code == 422, page.text[:500]
    error = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>([^<]+)<', page.text)
    assert error is not None, f"no error at {name}"
    assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', page.text)
    assert script_count(db) == 0
