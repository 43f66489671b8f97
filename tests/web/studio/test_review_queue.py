"""The studio's review queue over plain HTTP (`/studio/review`), with real media in the store:
every waiting take of the workspace grouped by script and section, one player per section, a
voiced section approved with one action (or separately), reject forms folded and starting from
the prompt, with the retake's cost and time; the place kept after each decision; approving the
played sections; the compile on the last approval or by hand; the whole sequence; the nav's
badge. Refusals: a viewer or writer cannot decide (403), another workspace's takes are never
listed and its scripts are unknown (404), bad ids and fields are 422 naming them, nothing stored.
"""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.fixtures.media import ClipFactory
from tests.fixtures.review import NARRATED, NARRATED_SECTIONS
from tests.fixtures.scripts import SAMPLE_SCRIPT, record_clip, store_take
from tests.web.studio.conftest import KEY
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import Script, load_script, parse_script
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.previews import preview_key
from vsl_pipelines.services.review import (
    Review,
    apply_rejection,
    decide,
    review_queue,
    waiting_decisions,
)
from vsl_pipelines.services.workspaces import create_workspace
from vsl_pipelines.storage.local import LocalMediaStore

SAMPLE = "spring-launch"
QUEUE = "/studio/review"
SECTIONS = NARRATED_SECTIONS
_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def token(client: TestClient, path: str = QUEUE) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    match = _TOKEN.search(page.text)
    assert match is not None, "the page carries the session's form token"
    return match.group(1)


def approvals(db: Database) -> list[tuple[str, str, str, int, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT script_id, section_id, subject, take, decision FROM approvals ORDER BY id"
        ).fetchall()
    return [(r["script_id"], r["section_id"], r["subject"], r["take"], r["decision"]) for r in rows]


def item_html(page: str, script_id: str, section: str) -> str:
    found = re.search(
        rf'<article class="card review-item" id="item-{script_id}-{section}".*?</article>',
        page,
        re.S,
    )
    assert found is not None, f"no item {script_id}/{section}"
    return found.group(0)


def signed_in(build_api_app: BuildApiApp, key: str) -> TestClient:
    """A browser signed in with `key` (the bootstrap key or a stored one)."""
    browser = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    signed = browser.post("/studio/sign-in", data={"key": key, "next": QUEUE})
    assert signed.status_code == 200 and signed.url.path == QUEUE, signed.text[:300]
    return browser


def retake_figures(registry: Registry, *models: str) -> tuple[float, float]:
    """The estimate and the seconds of a retake made with `models` (their defaults)."""
    specs = [registry.get(model) for model in models]
    return (
        round(sum(spec.estimate_cost({}) for spec in specs), 6),
        sum(spec.expected_seconds({}) for spec in specs),
    )


# -- the queue ------------------------------------------------------------------------------------


def test_the_queue_lists_every_waiting_take_by_script_and_section(
    client: TestClient,
    narrated_takes: Script,
    stored_script: Script,
    db: Database,
    registry: Registry,
    api_media_store: LocalMediaStore,
) -> None:
    """Two scripts: each a group with a link to its page and its sequence, its sections in
    order, one player each (the hook's preview; the others' clip with the voice beside it),
    one approval for a voiced section's clip and narration, the reject forms folded, starting
    from the prompt and the words, naming the seed "Variation" and pricing the retake."""
    with db.connect() as conn:
        record_clip(conn, "hook", script_id=SAMPLE)
    page = client.get(QUEUE)
    assert page.status_code == 200, page.text[:500]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    text = page.text
    # Groups by script (oldest first), each linking to its page and its whole sequence.
    assert text.index(f'id="script-{NARRATED}"') < text.index(f'id="script-{SAMPLE}"')
    for script_id in (NARRATED, SAMPLE):
        assert f'href="/studio/scripts/{script_id}"' in text
        assert f'href="/studio/review/{script_id}/preview"' in text
    assert '<span id="waiting-count" data-count="7">7 decisions waiting</span>' in text
    # The nav's badge: the same count, rendered with the page.
    nav = re.search(r'<a href="/studio/review" id="nav-review"[^>]*>.*?</a>', text, re.S)
    assert nav is not None and 'aria-current="page"' in nav.group(0)
    assert 'data-count="7"> 7<span class="visually-hidden"> waiting</span>' in nav.group(0)

    ids = re.findall(r'<article class="card review-item" id="item-([a-z-]+)"', text)
    assert ids == [f"{NARRATED}-{s}" for s in SECTIONS] + [f"{SAMPLE}-hook"]
    hook = item_html(text, NARRATED, "hook")
    preview = api_media_store.public_url(preview_key(NARRATED, "hook", 1, 1))
    assert len(re.findall("<video", hook)) == 1 and preview in hook
    assert '-hook-voice" controls' not in hook and "As it will sound" in hook  # one player
    offer = item_html(text, NARRATED, "offer")
    assert api_media_store.public_url(f"scripts/{NARRATED}/offer/clip-v1.mp4") in offer
    assert re.search(r'<audio id="item-[a-z-]+-offer-voice"[^>]*data-follows="item-', offer)
    assert "play together" in offer
    # One approval for both; separately on request; the reject forms folded.
    approve = re.search(
        r'<form class="approve"[^>]*id="item-[a-z-]+-hook-approve">.*?</form>', hook, re.S
    )
    assert approve is not None
    assert 'name="clip" value="1"' in approve.group(0)
    assert 'name="narration" value="1"' in approve.group(0)
    assert f'name="next" value="{NARRATED}/offer"' in approve.group(0)
    assert "Approve clip and narration" in approve.group(0)
    assert '<details class="separately"' in hook and '<details class="reject"' in hook
    assert "<details open" not in text and " open>" not in text
    # The clip's retake: the prompt prefilled, "Variation", the estimate and time.
    prompt = narrated_takes.sections[0].keyframe.prompt  # type: ignore[union-attr]
    assert f'name="prompt" rows="3" maxlength="4000">{html.escape(prompt)}</textarea>' in hook
    assert "Variation (optional)" in hook and "new variation of the picture" in hook
    usd, seconds = retake_figures(registry, "flux-schnell", "stability-video")
    assert (
        f'A new take costs about <strong class="retake-usd" data-usd="{usd}">{usd_text(usd)}'
        in hook
    )
    assert f'takes about <span class="retake-time">{round(seconds)} s</span>' in hook
    # The narration's retake: its words, its voice, its cost.
    words = narrated_takes.sections[2].narration
    close = item_html(text, NARRATED, "close")
    assert f">{words}</textarea>" in close
    assert '<option value="bm_george" selected>' in close and 'value="1.1"' in close
    # The chosen voice's sample beside it (a new voice chosen plays its own: review.js).
    assert (
        'class="voice-sample" controls preload="none" src="/studio/voices/kokoro-82m/bm_george"'
        in close
    )
    voice_usd, _ = retake_figures(registry, "kokoro-82m")
    assert f'data-usd="{voice_usd}"' in close
    # The sample's hook: a clip alone, no narration to decide.
    sample = item_html(text, SAMPLE, "hook")
    assert "Approve the clip" in sample and 'name="narration"' not in sample
    assert "P</kbd> play" in text and "<kbd>R</kbd> reject" in text


def test_an_empty_queue_and_its_badge(client: TestClient, stored_script: Script) -> None:
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert "Nothing is waiting for review." in page.text
    assert 'id="review-live"' in page.text  # polled while the stored script is queued
    badge = client.get(f"{QUEUE}/badge")
    assert badge.status_code == 200
    assert 'class="badge empty"' in badge.text and 'data-count="0"' in badge.text


def test_every_studio_page_asks_for_the_badge_and_links_the_queue(
    client: TestClient, narrated_takes: Script, build_api_app: BuildApiApp
) -> None:
    """Pages without the count load it once shown (htmx), and refresh it every 30 s; signed out,
    the badge answers nothing."""
    scripts = client.get("/studio")
    nav = re.search(r'<a href="/studio/review" id="nav-review"[^>]*>.*?</a>', scripts.text, re.S)
    assert nav is not None
    assert 'hx-get="/studio/review/badge" hx-trigger="load, every 30s"' in nav.group(0)
    badge = client.get(f"{QUEUE}/badge")
    assert 'data-count="6"> 6<span class="visually-hidden"> waiting</span>' in badge.text
    assert 'hx-trigger="every 30s"' in badge.text
    stranger = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    assert stranger.get(f"{QUEUE}/badge").status_code == 204
    assert stranger.get(QUEUE, follow_redirects=False).status_code == 303  # to sign in


# -- deciding -------------------------------------------------------------------------------------


def test_a_voiced_section_is_approved_with_one_action_and_the_next_one_shown(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    csrf = token(client)
    done = client.post(
        f"{QUEUE}/{NARRATED}/hook/approve",
        data={"csrf": csrf, "clip": "1", "narration": "1", "next": f"{NARRATED}/offer"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:500]
    location = done.headers["location"]
    assert location.endswith(f"#item-{NARRATED}-offer"), location
    assert approvals(db) == [
        (NARRATED, "hook", "clip", 1, "approved"),
        (NARRATED, "hook", "narration", 1, "approved"),
    ]
    page = client.get(location.split("#")[0])
    assert f'id="item-{NARRATED}-hook"' not in page.text
    assert "Approved hook of spring-launch-narrated (clip and narration)." in page.text
    assert 'data-count="4"' in page.text


def test_both_or_neither_a_stale_take_approves_nothing(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    csrf = token(client)
    stale = client.post(
        f"{QUEUE}/{NARRATED}/offer/approve",
        data={"csrf": csrf, "clip": "1", "narration": "2"},
    )
    assert stale.status_code == 409, stale.text[:500]
    assert "no longer under review" in html.unescape(stale.text)
    assert approvals(db) == [], "the clip's approval was rolled back with the narration's"


def test_decided_separately_the_section_stays_in_place(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    csrf = token(client)
    done = client.post(
        f"{QUEUE}/{NARRATED}/close/approve",
        data={"csrf": csrf, "narration": "1", "next": f"{NARRATED}/offer", "note": "lovely"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"#item-{NARRATED}-close"), "its clip still waits"
    page = client.get(QUEUE)
    close = item_html(page.text, NARRATED, "close")
    assert "clip take 1" in close and "narration take" not in close
    assert approvals(db) == [(NARRATED, "close", "narration", 1, "approved")]


def test_a_rejection_starts_from_the_prompt_and_comes_back_beside_the_old_take(
    client: TestClient,
    narrated_takes: Script,
    db: Database,
    api_media_store: LocalMediaStore,
    make_clip: ClipFactory,
) -> None:
    """The prompt sent back unchanged is no override; a changed one is; the variation is the
    seed. The retake shows beside take 1, with the note and who rejected it."""
    csrf = token(client)
    prompt = narrated_takes.sections[0].keyframe.prompt  # type: ignore[union-attr]
    unchanged = client.post(
        f"{QUEUE}/{NARRATED}/hook/reject",
        data={"csrf": csrf, "subject": "clip", "take": "1", "prompt": prompt, "note": "too dark"},
        follow_redirects=False,
    )
    assert unchanged.status_code == 303, unchanged.text[:500]
    assert unchanged.headers["location"].endswith(f"#item-{NARRATED}-hook"), "its voice waits"
    changed = client.post(
        f"{QUEUE}/{NARRATED}/offer/reject",
        data={"csrf": csrf, "subject": "clip", "take": "1", "prompt": "a phone, brighter",
              "seed": "42"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text[:500]
    with db.connect() as conn:
        rows = conn.execute("SELECT section_id, prompt, seed, note FROM approvals ORDER BY id")
        assert [tuple(r.values()) for r in rows] == [
            ("hook", None, None, "too dark"),
            ("offer", "a phone, brighter", 42, None),
        ]
    decisions = Review(db).act_after(0, 10)  # what the approval sensor does
    assert [r.take for r in decisions.retakes] == [2, 2]
    store_take(db, api_media_store, NARRATED, "hook", "clip", 2, make_clip(seconds=1.5))
    page = client.get(QUEUE)
    hook = item_html(page.text, NARRATED, "hook")
    assert "clip take 2" in hook
    assert api_media_store.public_url(f"scripts/{NARRATED}/hook/clip-v2.mp4") in hook
    earlier = re.search(r'<figure class="earlier">.*?</figure>', hook, re.S)
    assert earlier is not None
    assert api_media_store.public_url(f"scripts/{NARRATED}/hook/clip-v1.mp4") in earlier.group(0)
    assert "Take 1 · rejected by bootstrap key: “too dark”" in earlier.group(0)
    assert f">{html.escape(prompt)}</textarea>" in hook, "take 2 was made from the same prompt"


def test_a_narration_rejection_keeps_only_what_changed(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    csrf = token(client)
    words = narrated_takes.sections[2].narration
    done = client.post(
        f"{QUEUE}/{NARRATED}/close/reject",
        data={"csrf": csrf, "subject": "narration", "take": "1", "text": words,
              "voice": "bm_george", "speed": "0.9", "note": "slower"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text[:500]
    with db.connect() as conn:
        [row] = conn.execute("SELECT subject, text, params, note FROM approvals").fetchall()
    assert (row["subject"], row["text"], row["params"], row["note"]) == (
        "narration", None, {"speed": 0.9}, "slower",
    )  # fmt: skip


def test_the_played_sections_are_approved_together(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    """Each with the takes shown; one that changed meanwhile is left in the queue."""
    csrf = token(client)
    with db.connect() as conn:
        conn.execute(  # the offer's narration decided elsewhere meanwhile
            "INSERT INTO approvals (script_id, section_id, subject, take, decision, reviewer)"
            " VALUES (%s, 'offer', 'narration', 1, 'rejected', 'someone')",
            (NARRATED,),
        )
    items = f"{NARRATED}/hook/1/1 {NARRATED}/offer/1/1 {NARRATED}/close/-/1"
    done = client.post(
        f"{QUEUE}/approve-played", data={"csrf": csrf, "items": items}, follow_redirects=False
    )
    assert done.status_code == 303, done.text[:500]
    assert "played%3A2+%28left+1+that+had+changed%29" in done.headers["location"]
    assert [a for a in approvals(db) if a[4] == "approved"] == [
        (NARRATED, "hook", "clip", 1, "approved"),
        (NARRATED, "hook", "narration", 1, "approved"),
        (NARRATED, "close", "narration", 1, "approved"),
    ]


# -- the compile ----------------------------------------------------------------------------------


def test_a_script_can_wait_for_a_person_s_compile(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    """Set to wait, its last approval asks for no compile; the queue and the sequence offer
    Compile; set back to compile at once, it is asked for then."""
    csrf = token(client)
    setting = client.post(
        f"{QUEUE}/{NARRATED}/settings", data={"csrf": csrf, "compile": "by-hand"},
        follow_redirects=False,
    )  # fmt: skip
    assert setting.status_code == 303, setting.text[:500]
    for section in SECTIONS:
        done = client.post(
            f"{QUEUE}/{NARRATED}/{section}/approve",
            data={"csrf": csrf, "clip": "1", "narration": "1"},
            follow_redirects=False,
        )
        assert done.status_code == 303
    decisions = Review(db).act_after(0, 10)
    assert decisions.ready_to_compile == {} and decisions.awaiting_compile == [NARRATED]
    assert compilations(db) == []
    page = client.get(QUEUE)
    assert f'id="ready-{NARRATED}"' in page.text and f"Compile {NARRATED}</button>" in page.text
    sequence = client.get(f"{QUEUE}/{NARRATED}/preview")
    assert "waits for a Compile" in sequence.text and 'id="compile-now"' in sequence.text
    back = client.post(
        f"{QUEUE}/{NARRATED}/settings",
        data={"csrf": csrf, "compile": "on-approval", "back": "preview"},
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert back.headers["location"] == f"{QUEUE}/{NARRATED}/preview"
    assert compilations(db) == [("requested", "bootstrap key")]
    again = client.post(f"{QUEUE}/{NARRATED}/compile", data={"csrf": csrf})
    assert again.status_code == 409 and "already" in html.unescape(again.text)


def test_compile_by_hand_once_every_take_is_approved(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    csrf = token(client)
    early = client.post(f"{QUEUE}/{NARRATED}/compile", data={"csrf": csrf})
    assert early.status_code == 409 and "hook" in html.unescape(early.text)
    client.post(f"{QUEUE}/{NARRATED}/settings", data={"csrf": csrf, "compile": "by-hand"})
    for section in SECTIONS:
        client.post(
            f"{QUEUE}/{NARRATED}/{section}/approve",
            data={"csrf": csrf, "clip": "1", "narration": "1"},
        )
    Review(db).act_after(0, 10)
    done = client.post(
        f"{QUEUE}/{NARRATED}/compile", data={"csrf": csrf, "back": "script"},
        follow_redirects=False,
    )  # fmt: skip
    assert (
        done.status_code == 303 and done.headers["location"] == f"/studio/scripts/{NARRATED}#final"
    )
    assert compilations(db) == [("requested", "bootstrap key")]
    assert f'id="ready-{NARRATED}"' not in client.get(QUEUE).text


def compilations(db: Database) -> list[tuple[str, str]]:
    with db.connect() as conn:
        rows = conn.execute("SELECT status, requested_by FROM compilations ORDER BY id")
        return [(r["status"], r["requested_by"]) for r in rows]


def test_the_whole_sequence_plays_the_current_takes_in_order(
    client: TestClient, narrated_takes: Script, api_media_store: LocalMediaStore
) -> None:
    page = client.get(f"{QUEUE}/{NARRATED}/preview")
    assert page.status_code == 200, page.text[:500]
    parts = re.findall(
        r'<li class="part part-(\w+)" id="part-(\w+)" data-section="\w+"([^>]*)>', page.text
    )
    assert [(state, section) for state, section, _ in parts] == [("waiting", s) for s in SECTIONS]
    hook, offer, _ = (attrs for _, _, attrs in parts)
    assert f'data-video="{api_media_store.public_url(preview_key(NARRATED, "hook", 1, 1))}"' in hook
    assert "data-audio" not in hook, "the preview carries the voice"
    assert (
        f'data-audio="{api_media_store.public_url(f"scripts/{NARRATED}/offer/narration-v1.wav")}"'
        in offer
    )
    assert 'id="sequence-play" class="primary" hidden' in page.text  # shown by the script
    assert "adds the transitions, the soundtrack and the captions" in page.text


# -- the script page's forms ---------------------------------------------------------------------


def test_the_script_page_decides_through_the_queue_and_comes_back(
    client: TestClient, narrated_takes: Script, db: Database, registry: Registry
) -> None:
    page = client.get(f"/studio/scripts/{NARRATED}")
    assert page.status_code == 200, page.text[:500]
    hook = re.search(
        r'<section class="card take-row" id="section-hook".*?</section>', page.text, re.S
    )
    assert hook is not None
    section = hook.group(0)
    assert 'id="approve-both-hook-c1-n1"' in section
    assert "Approve take 1 with narration take 1" in section
    assert '<details class="separately" id="separately-hook-c1-n1"' in section
    assert 'id="approve-hook-1"' in section and 'id="approve-voice-hook-1"' in section
    assert 'hx-get="/studio/review/spring-launch-narrated/hook/retake?subject=clip"' in section
    prompt = narrated_takes.sections[0].keyframe.prompt  # type: ignore[union-attr]
    assert f">{html.escape(prompt)}</textarea>" in section
    assert "Variation (optional)" in section and "Seed (optional)" not in section
    cost = client.get(f"{QUEUE}/{NARRATED}/hook/retake", params={"subject": "clip"})
    usd, _ = retake_figures(registry, "flux-schnell", "stability-video")
    assert cost.status_code == 200 and usd_text(usd) in cost.text
    csrf = _TOKEN.search(page.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        f"{QUEUE}/{NARRATED}/hook/approve",
        data={"csrf": csrf, "clip": "1", "narration": "1", "back": "script"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/studio/scripts/{NARRATED}#section-hook"


# -- who may, and where ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.WRITER])
def test_only_reviewers_decide(
    build_api_app: BuildApiApp, narrated_takes: Script, db: Database, role: Role
) -> None:
    """A viewer (or a writer) sees the queue without forms; every decision is 403."""
    _, key = create_key(db, f"a-{role.value}", role=role)
    browser = signed_in(build_api_app, key)
    page = browser.get(QUEUE)
    assert page.status_code == 200
    assert "deciding needs the reviewer role" in page.text
    assert '<form class="approve"' not in page.text and 'id="approve-played"' not in page.text
    assert 'name="compile"' not in page.text and "Compiles once every take is approved" in page.text
    csrf = _TOKEN.search(page.text).group(1)  # type: ignore[union-attr]  # the sign-out form's
    posts = {
        f"{QUEUE}/{NARRATED}/hook/approve": {"clip": "1", "narration": "1"},
        f"{QUEUE}/{NARRATED}/hook/reject": {"take": "1", "note": "no"},
        f"{QUEUE}/approve-played": {"items": f"{NARRATED}/hook/1/1"},
        f"{QUEUE}/{NARRATED}/settings": {"compile": "by-hand"},
        f"{QUEUE}/{NARRATED}/compile": {},
    }
    for url, fields in posts.items():
        refused = browser.post(url, data={"csrf": csrf, **fields})
        assert refused.status_code == 403, url
        assert "needs the reviewer role" in html.unescape(refused.text), url
    assert approvals(db) == []


def test_another_workspace_s_takes_are_never_listed_nor_decided(
    build_api_app: BuildApiApp,
    narrated_takes: Script,
    db: Database,
    registry: Registry,
    api_media_store: LocalMediaStore,
    make_clip: ClipFactory,
) -> None:
    """Acme's reviewer sees acme's script only; the default workspace's are unknown to it."""
    with db.connect() as conn:
        acme = create_workspace(conn, "acme", "Acme", None, "test")
        document = parse_script(
            {**load_script(SAMPLE_SCRIPT, registry).model_dump(mode="json"), "id": "acme-launch"},
            "test", registry,
        )  # fmt: skip
        insert_script(conn, document, None, acme.id)
    store_take(db, api_media_store, "acme-launch", "hook", "clip", 1, make_clip(seconds=1.0))
    _, key = create_key(db, "acme-reviewer", workspace="acme", role=Role.REVIEWER)
    browser = signed_in(build_api_app, key)
    page = browser.get(QUEUE)
    assert 'id="item-acme-launch-hook"' in page.text and NARRATED not in page.text
    assert 'data-count="1"' in page.text
    assert "1" in browser.get(f"{QUEUE}/badge").text
    csrf = _TOKEN.search(page.text).group(1)  # type: ignore[union-attr]
    hidden = {
        "get": [f"{QUEUE}?script={NARRATED}", f"{QUEUE}/{NARRATED}/preview",
                f"{QUEUE}/{NARRATED}/hook/retake"],
        "post": [(f"{QUEUE}/{NARRATED}/hook/approve", {"clip": "1", "narration": "1"}),
                 (f"{QUEUE}/{NARRATED}/hook/reject", {"take": "1"}),
                 (f"{QUEUE}/approve-played", {"items": f"acme-launch/hook/1/- {NARRATED}/hook/1/1"}),
                 (f"{QUEUE}/{NARRATED}/settings", {"compile": "by-hand"}),
                 (f"{QUEUE}/{NARRATED}/compile", {})],
    }  # fmt: skip
    for url in hidden["get"]:
        answer = browser.get(url)
        assert answer.status_code == 404, url
        assert f"no script '{NARRATED}'" in html.unescape(answer.text), url
    for url, fields in hidden["post"]:
        answer = browser.post(url, data={"csrf": csrf, **fields})
        assert answer.status_code == 404, url
    assert approvals(db) == [], "nothing decided, not even acme's own item of the lot"
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) AS n FROM review_settings").fetchone()["n"] == 0
    # The default workspace's admin does not see acme's take either.
    admin = signed_in(build_api_app, KEY)
    assert "acme-launch" not in admin.get(QUEUE).text


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields", "status", "words"),
    [
        (f"{NARRATED}/hook/approve", {}, 422, "clip or narration: name the take"),
        (f"{NARRATED}/hook/approve", {"clip": "one"}, 422, "clip must be the number of the take"),
        (f"{NARRATED}/hook/approve", {"clip": "1", "prompt": "x"}, 422, "prompt: Value error"),
        (f"{NARRATED}/hook/approve", {"clip": "1", "colour": "red"}, 422, "colour: Extra inputs"),
        (f"{NARRATED}/hook/approve", {"clip": "1", "back": "elsewhere"}, 422, "back: one of"),
        (f"{NARRATED}/hook/approve", {"clip": "1", "next": "../x"}, 422, "form next: "),
        (f"{NARRATED}/hook/approve", {"clip": "1", "view": "A B"}, 422, "form view: "),
        (f"{NARRATED}/intro/approve", {"clip": "1"}, 404, "has no section 'intro'"),
        (f"{NARRATED}/hook/approve", {"clip": "2"}, 409, "no longer under review"),
        (f"{NARRATED}/hook/reject", {"subject": "music"}, 422, "subject must be clip or narration"),
        (f"{NARRATED}/hook/reject", {"seed": "-1"}, 422, "seed: Input should be greater"),
        (f"{NARRATED}/hook/reject", {"take": "0"}, 422, "take must be the number"),
        (f"{NARRATED}/hook/reject", {"subject": "narration", "speed": "9"}, 422, "speed"),
        (f"{NARRATED}/hook/reject", {"note": "x\x00"}, 422, "note: Value error"),
        ("nope/hook/approve", {"clip": "1"}, 404, "no script 'nope'"),
        ("Bad_Id/hook/approve", {"clip": "1"}, 422, "path script_id: "),
        (f"{NARRATED}/hook%0A/approve", {"clip": "1"}, 422, "path section_id: "),
        ("approve-played", {"items": ""}, 422, "play a section first"),
        ("approve-played", {"items": "a/b/c"}, 422, "is not SCRIPT/SECTION/CLIP/VOICE"),
        ("approve-played", {"items": f"{NARRATED}/hook/-/-"}, 422, "names no take"),
        ("approve-played", {"items": f"{NARRATED}/hook/x/1"}, 422, "is not a take"),
        ("approve-played", {"items": f"{NARRATED}/hook/1/1", "back": "script"}, 422, "back:"),
        (f"{NARRATED}/settings", {"compile": "sometimes"}, 422, "compile: one of"),
        (f"{NARRATED}/settings", {"compile": "by-hand", "x": "1"}, 422, "x: not a field"),
        (f"{NARRATED}/compile", {"format": "gif"}, 422, "format: not a field of a compile"),
    ],
)
def test_bad_posts_are_refused_naming_the_problem_and_store_nothing(
    client: TestClient,
    narrated_takes: Script,
    db: Database,
    path: str,
    fields: dict[str, str],
    status: int,
    words: str,
) -> None:
    csrf = token(client)
    answer = client.post(f"{QUEUE}/{path}", data={"csrf": csrf, **fields})
    assert answer.status_code == status, answer.text[:500]
    assert words in html.unescape(answer.text), answer.text[:800]
    assert approvals(db) == []
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) AS n FROM review_settings").fetchone()["n"] == 0


def test_forms_need_the_session_token_and_this_site(
    client: TestClient, narrated_takes: Script, db: Database
) -> None:
    url = f"{QUEUE}/{NARRATED}/hook/approve"
    fields = {"clip": "1", "narration": "1"}
    assert client.post(url, data=fields).status_code == 403
    assert client.post(url, data={"csrf": "forged", **fields}).status_code == 403
    cross = client.post(
        url, data={"csrf": token(client), **fields}, headers={"origin": "http://evil.example"}
    )
    assert cross.status_code == 403 and "another site" in cross.text
    assert approvals(db) == []


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        (f"{QUEUE}?script=nope", 404, "no script 'nope'"),
        (f"{QUEUE}?script=Not%20an%20id", 422, "query script: "),
        (f"{QUEUE}?done=approved:x%00", 422, "query done: "),
        (f"{QUEUE}/nope/preview", 404, "no script 'nope'"),
        (f"{QUEUE}/{NARRATED}/intro/retake", 404, "has no section 'intro'"),
        (f"{QUEUE}/{NARRATED}/hook/retake?subject=music", 422, "query subject"),
    ],
)
def test_bad_pages_are_refused(
    client: TestClient, narrated_takes: Script, url: str, status: int, words: str
) -> None:
    answer = client.get(url)
    assert answer.status_code == status, answer.text[:500]
    assert words in html.unescape(answer.text)


def test_a_notice_is_only_what_the_studio_says(client: TestClient, narrated_takes: Script) -> None:
    page = client.get(QUEUE, params={"done": "approved:<b>hook</b>"})
    assert "Approved &lt;b&gt;hook&lt;/b&gt;." in page.text
    assert 'id="notice"' not in client.get(QUEUE, params={"done": "Pay here"}).text


def test_the_count_is_the_queue_s(client: TestClient, narrated_takes: Script, db: Database) -> None:
    """The nav's one statement counts what `review_queue` lists, through rejections and
    retakes, approvals, and a narration rejected whose new take is not stored yet."""

    def both() -> tuple[int, int]:
        with db.connect() as conn:
            workspace = default_workspace_id(conn)
            return waiting_decisions(conn, workspace), len(
                review_queue(conn, workspace_id=workspace)
            )

    assert both() == (6, 6)
    with db.connect() as conn:
        decide(conn, NARRATED, "hook", "approved")
        rejected = decide(conn, NARRATED, "offer", "rejected", subject="narration")
        apply_rejection(conn, rejected)
    assert both() == (4, 4)


def test_the_queue_refreshes_itself_while_a_script_is_active(
    client: TestClient, db: Database, stored_script: Script
) -> None:
    """As the scripts list does: the queue below its toolbar is polled (`/studio/review/live`)
    while a script of it is active, and not once none is; a bad or unknown script is refused."""
    from vsl_pipelines.db.scripts import set_status

    page = client.get(QUEUE).text
    assert 'hx-get="/studio/review/live" hx-trigger="every 3s"' in page  # queued: active
    live = client.get(f"{QUEUE}/live")
    assert live.status_code == 200 and live.text.lstrip().startswith('<div id="review-live"')
    assert "<html" not in live.text  # the fragment alone
    viewed = client.get(f"{QUEUE}/live", params={"script": stored_script.id})
    assert f'hx-get="/studio/review/live?script={stored_script.id}"' in viewed.text
    with db.connect() as conn:
        set_status(conn, stored_script.id, "compiled")
    quiet = client.get(f"{QUEUE}/live").text
    assert 'data-active="0"' in quiet and "hx-trigger" not in quiet
    assert client.get(f"{QUEUE}/live", params={"script": "Not An Id!"}).status_code == 422
    assert client.get(f"{QUEUE}/live", params={"script": "no-such-script"}).status_code == 404
