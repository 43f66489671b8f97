"""The studio in a real browser (Debian's chromium driven by Playwright) against the sandbox,
the service and the real Dagster daemon: issue 23's whole loop with one sign-in (a voiced script
written, generated and edited, reviewed from the keyboard in the queue that refreshes itself, a
clip and a narration retaken, the sequence played, compiled, compiled again as AVI with its
captions, downloaded, duplicated), then the same pages at 390 px over the same state. Plus the
refusals a browser meets: sign-in, an error at its field, a cross-site post.

One browser, one service and one daemon for the module. `VSL_UPDATE_SCREENSHOTS=1` saves each
page into docs/studio/ (the README shows them).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from pydantic import SecretStr

from tests.fixtures.daemon import Daemon, daemon_env
from tests.fixtures.database import SERVER_URL, _admin, _drop
from tests.fixtures.sandbox import TEST_SANDBOX_DEFAULTS
from tests.fixtures.service import free_port
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.sandbox import SandboxConfig, start_sandbox_in_thread
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.server import start_service_in_thread

pytestmark = pytest.mark.browser

KEY = "studio-browser-key"
SCREENSHOTS = PROJECT_ROOT / "docs" / "studio"
FLOW_TIMEOUT_MS = 120_000


@dataclass
class Studio:
    url: str
    db: Database
    logs: Path
    daemon: Daemon


@pytest.fixture(scope="module")
def studio(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """The service with the studio (key required), the sandbox and the daemon, on one database."""
    name = f"vsl_t_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    db = Database(f"{SERVER_URL}/{name}")
    root = tmp_path_factory.mktemp("studio")
    media_root = root / "media"
    media_root.mkdir()
    sandbox = start_sandbox_in_thread(
        SandboxConfig(**{**TEST_SANDBOX_DEFAULTS, "latency_s": 0.2, "data_dir": root / "sandbox"})
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    inbox = PostgresInbox(db)
    config = ApiConfig(
        db=db,
        job_status=JobStatusLayers(db),
        media_store=LocalMediaStore(media_root, f"{url}/media"),
        registry=load_registry(PROJECT_ROOT / "config" / "models.json"),
        api_key=SecretStr(KEY),
    )
    service = start_service_in_thread(
        create_app(inbox, sandbox.secret, media_root, api=config), port=port
    )
    env = daemon_env(root / "dagster_home", db, media_root, url, sandbox.base_url)
    daemon = Daemon(env, root / "daemon.log", module=True)
    daemon.start()
    try:
        yield Studio(url, db, root, daemon)
    finally:
        daemon.kill()
        service.stop()
        sandbox.stop()
        inbox.close()
        _drop(name)


@pytest.fixture(scope="module")
def browser(chromium_browser: Any) -> Any:
    """The module's Chromium (tests/fixtures/chromium.py)."""
    return chromium_browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def screenshot(page: Any, name: str) -> None:
    if os.environ.get("VSL_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, studio: Studio, path: str = "/studio") -> None:
    page.goto(f"{studio.url}{path}")
    assert "/studio/sign-in" in page.url, "the studio asks for a key first"
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(f"{studio.url}{path}") + r"$"))


def test_sign_in_is_required_and_a_wrong_key_refused(page: Any, studio: Studio) -> None:
    page.goto(f"{studio.url}/studio/scripts/new")
    assert page.url.startswith(f"{studio.url}/studio/sign-in")
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#key-error").inner_text() == "That key is not valid."
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/new")


def test_a_form_error_is_shown_at_its_field(page: Any, studio: Studio) -> None:
    sign_in(page, studio, "/studio/scripts/new")
    page.get_by_label("Title", exact=True).fill("Error at the field")
    page.get_by_label("Budget (USD)").fill("0.0001")
    page.locator("#sections-0-narration").fill("Short and sweet.")
    page.locator("#sections-0-keyframe-prompt").fill("a lighthouse")
    page.get_by_role("button", name="Create script and start generating").click()
    error = page.locator("#budget_usd-error")
    assert "exceeds its budget" in error.inner_text()
    assert page.get_by_label("Budget (USD)").get_attribute("aria-invalid") == "true"
    assert page.locator("#estimate").get_by_text("Over budget").is_visible()


def test_the_editor_fits_a_phone_and_works_from_the_keyboard(browser: Any, studio: Studio) -> None:
    """At 390 px nothing is wider than the screen, every input has a label, and the sign-in
    and the editor's first fields are reached and used with the keyboard alone."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(15_000)
    phone = context.new_page()
    try:
        phone.goto(f"{studio.url}/studio")
        active = "document.activeElement.id"
        for _ in range(8):  # the key field has the focus at once (autofocus), else Tab to it
            if phone.evaluate(active) == "key":
                break
            phone.keyboard.press("Tab")
        assert phone.evaluate(active) == "key"
        phone.keyboard.type(KEY)
        phone.keyboard.press("Enter")
        phone.wait_for_url(re.compile(re.escape(f"{studio.url}/studio") + r"$"))
        phone.goto(f"{studio.url}/studio/scripts/new")
        widths = phone.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"the editor scrolls sideways at 390 px: {widths}"
        unlabelled = phone.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
               .map(e => e.name || e.id)"""
        )
        assert unlabelled == []
        phone.get_by_label("Title", exact=True).focus()
        phone.keyboard.type("Typed on a phone")
        assert phone.get_by_label("Title", exact=True).input_value() == "Typed on a phone"
    finally:
        context.close()


def test_a_voice_sample_that_cannot_play_says_why(page: Any, studio: Studio) -> None:
    """This studio has no prediction service: the chosen voice's sample answers 503, and its
    player says so beside it instead of staying silent (studio.js)."""
    sign_in(page, studio, "/studio/scripts/new")
    page.select_option("#voice-model", "kokoro-82m")  # the editor re-renders with its voices
    player = _wait(page, "audio.voice-sample")
    player.evaluate("audio => { audio.preload = 'auto'; audio.load(); }")
    note = _wait(page, ".voice-sample-note")
    page.wait_for_function(
        "() => document.querySelector('.voice-sample-note').textContent.includes('503')"
    )
    assert "voice samples need the prediction service" in note.inner_text()
    assert note.get_attribute("role") == "status"


def test_a_cross_site_post_is_refused(page: Any, studio: Studio) -> None:
    sign_in(page, studio)
    other_site = "http://elsewhere.test/"
    form = (
        f'<form method="post" action="{studio.url}/studio/scripts/new">'
        '<input name="title" value="forged"><button>go</button></form>'
    )
    page.route(other_site, lambda route: route.fulfill(body=form, content_type="text/html"))
    page.goto(other_site)
    with page.expect_response(f"{studio.url}/studio/scripts/new") as answer:
        page.get_by_role("button", name="go").click()
    assert answer.value.status == 403
    assert "another site" in page.content()


def _wait(
    page: Any, selector: str, timeout_ms: int = FLOW_TIMEOUT_MS, state: str = "visible"
) -> Any:
    page.wait_for_selector(selector, timeout=timeout_ms, state=state)
    return page.locator(selector)


def _playable(page: Any, selector: str) -> dict[str, float]:
    """The media element's readyState and duration once its metadata has loaded."""
    return dict(
        page.evaluate(
            """async (selector) => {
                const media = document.querySelector(selector);
                if (media.readyState < 1) {
                    if (media.preload === 'none') media.load();
                    await new Promise((done, failed) => {
                        media.addEventListener('loadedmetadata', done, {once: true});
                        media.addEventListener('error', () => failed(media.error && media.error.message), {once: true});
                    });
                }
                return {readyState: media.readyState, duration: media.duration};
            }""",
            selector,
        )
    )


def _fits_a_phone(page: Any) -> None:
    """At 390 px the script page does not scroll sideways and its inputs are labelled."""
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"the script page scrolls sideways at 390 px: {widths}"
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
               .map(e => e.name || e.id)"""
        )
        assert unlabelled == []
    finally:
        page.set_viewport_size(size)


def _item_title(page: Any, section: str) -> str:
    return str(page.locator(f"#item-walk-{section}-title").inner_text())


def _decisions(db: Database, script_id: str) -> list[tuple[str, str, int, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT section_id, subject, take, decision FROM approvals WHERE script_id = %s"
            " ORDER BY id",
            (script_id,),
        ).fetchall()
    return [(r["section_id"], r["subject"], r["take"], r["decision"]) for r in rows]


@pytest.mark.timeout(300)
def test_the_whole_loop_with_one_sign_in(page: Any, studio: Studio, tmp_path: Path) -> None:
    """Issue 23's loop as a marketer walks it, signed in once: a voiced two-section script
    written in the editor and generated; the stored script edited (its close's picture alone
    regenerated); the queue reviewed from the keyboard (a clip rejected with its prompt filled
    in and the retake's cost said, a narration with a slower speed, each coming back as take
    2 beside the note on take 1 while the queue refreshes itself); the whole sequence played;
    the last approval compiling; the video watched and compiled again as AVI with its
    captions kept; both downloaded; the script duplicated with the takes' prompts. Then the
    same pages at 390 px over the same state."""
    started = time.monotonic()
    refused: list[str] = []  # a script the Content-Security-Policy stopped, a script's error
    page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: refused.append(str(e)))
    sign_in(page, studio)

    # Create: two sections, a voice, captions.
    page.get_by_role("link", name="New script", exact=True).first.click()
    page.get_by_label("Title", exact=True).fill("Dinner launch")
    page.locator("#id").fill("walk")
    page.locator("#sections-0-id").fill("hook")
    page.locator("#sections-0-narration").fill("Dinner, <planned> in ten minutes.")
    page.locator("#sections-0-keyframe-prompt").fill("a calm kitchen at dusk")
    page.get_by_role("button", name="+ Add section").click()
    _wait(page, "#sections-1-narration", 15_000)
    page.locator("#sections-1-id").fill("close")
    page.locator("#sections-1-narration").fill("Start your free trial today.")
    page.locator("#sections-1-keyframe-prompt").fill("a family at a table")
    page.locator("#voice-model").select_option("kokoro-82m")
    _wait(page, "#voice-param-voice", 15_000, state="attached")
    page.get_by_label("Captions from the narration").check()
    page.locator("#estimate").get_by_text("$0.0105").wait_for()  # 2 keyframes, 2 narrations
    screenshot(page, "editor")
    page.get_by_role("button", name="Create script and start generating").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/walk")

    # Generation arrives on the script's page without a reload; each section as it will sound.
    _wait(page, "#approve-both-close-c1-n1")
    _wait(page, "#approve-both-hook-c1-n1")
    assert page.locator("#section-hook blockquote").first.inner_text() == (
        "Dinner, <planned> in ten minutes."
    )
    assert page.locator("#spoken-hook").inner_text() == "Dinner, <planned> in ten minutes."
    assert page.locator("#reject-open-close-1").get_attribute("open") is None  # folded
    voice = page.locator("#narration-hook .voice-params").inner_text()
    assert "kokoro-82m" in voice and "voice af_bella" in voice and "speed 1" in voice
    _wait(page, "#preview-hook-c1-n1", 60_000)
    played = _playable(page, "#preview-hook-c1-n1")
    assert played["duration"] > 0 and played["readyState"] >= 1, played
    assert "As it will sound" in page.locator("#section-hook figcaption").first.inner_text()
    screenshot(page, "script")

    # Edit the stored script: the close's picture changes; only it regenerates.
    page.locator("#edit-script").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/walk/edit")
    page.locator("#sections-1-keyframe-prompt").fill("a family laughing at a table")
    page.get_by_role("button", name="Review changes and cost").click()
    _wait(page, "#save-edit", 15_000)
    assert page.locator("tr[id^=regenerate-]").count() == 1
    assert page.locator("#regenerate-close").is_visible()
    assert "hook" in page.locator("#kept-sections").inner_text()
    page.locator("#save-edit").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/walk")

    # Review from the keyboard, in the queue the nav's link leads to.
    page.get_by_role("link", name=re.compile("Review queue")).click()
    page.wait_for_url(f"{studio.url}/studio/review")
    _wait(page, "#item-walk-hook")
    screenshot(page, "review")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == "item-walk-hook"
    page.keyboard.press("p")  # played: offered for one approval with the others played
    page.get_by_role("button", name="Approve the 1 played section").wait_for()
    page.keyboard.press("p")
    page.keyboard.press("r")  # the rejection: the prompt filled in, the retake's cost said
    assert page.evaluate("document.activeElement.id") == "item-walk-hook-clip-note"
    page.keyboard.type("too dark")
    prompt = page.locator("#item-walk-hook-prompt")
    assert prompt.input_value() == "a calm kitchen at dusk"
    cost = page.locator("#item-walk-hook-clip-cost").inner_text()
    assert re.search(r"A new take costs about \$0\.003\b", cost), cost
    assert re.search(r"takes about \d+ s", cost), cost
    prompt.fill("a warm kitchen at dusk, lamps on")
    with page.expect_navigation():
        page.get_by_role("button", name="Reject clip take 1").click()
    assert page.url.endswith("#item-walk-hook"), "its narration still waits here"
    page.keyboard.press("r")  # now the narration alone: slower
    assert page.evaluate("document.activeElement.id") == "item-walk-hook-voice-note"
    page.keyboard.type("slower, please")
    speed = page.locator("#item-walk-hook-voice-speed")
    assert speed.input_value() == "1"
    speed.fill("0.8")
    with page.expect_navigation():
        speed.press("Enter")
    assert _decisions(studio.db, "walk") == [
        ("hook", "clip", 1, "rejected"),
        ("hook", "narration", 1, "rejected"),
    ]

    # The queue refreshes itself: the retakes and the edit's new take arrive without a reload.
    page.wait_for_function(
        """() => {
            const t = (id) => (document.getElementById(id) || {}).textContent || '';
            return /clip take 2/.test(t('item-walk-hook-title'))
                && /narration take 2/.test(t('item-walk-hook-title'))
                && /clip take 2/.test(t('item-walk-close-title'));
        }""",
        timeout=FLOW_TIMEOUT_MS,
    )
    assert "too dark" in page.locator("#item-walk-hook").inner_text()  # beside the new take
    with studio.db.connect() as conn:
        jobs = conn.execute(
            "SELECT DISTINCT section_id, take FROM jobs WHERE script_id = 'walk'"
            " AND stage = 'keyframe' ORDER BY section_id, take"
        ).fetchall()
    assert [(j["section_id"], j["take"]) for j in jobs] == [
        ("close", 1), ("close", 2), ("hook", 1), ("hook", 2),
    ], "the edit regenerated the close alone, the rejection the hook"  # fmt: skip

    # Approve the hook, then the close (clip and narration with one key each): the last
    # approval asks for the compile, and the whole sequence plays while it runs.
    page.locator("#item-walk-hook").focus()
    with page.expect_navigation():
        page.keyboard.press("a")
    assert page.url.endswith("#item-walk-close")
    page.wait_for_function("() => document.activeElement.id === 'item-walk-close'")
    preview = page.locator("#script-walk").get_by_role("link", name="Preview the whole sequence")
    preview_url = f"{studio.url}{preview.get_attribute('href')}"
    with page.expect_navigation():
        page.keyboard.press("a")
    assert [d[:3] for d in _decisions(studio.db, "walk")[2:]] == [
        ("hook", "clip", 2), ("hook", "narration", 2),
        ("close", "clip", 2), ("close", "narration", 1),
    ]  # fmt: skip
    page.goto(preview_url)
    page.get_by_role("button", name="Play the whole sequence").click()
    page.wait_for_function(
        "() => document.getElementById('sequence-video').dataset.part === 'close'",
        timeout=30_000,
    )
    assert page.locator("#part-hook .state").inner_text() == "approved"

    # The video plays on the script's page and downloads.
    page.goto(f"{studio.url}/studio/scripts/walk")
    video = _wait(page, "#final video")
    assert _playable(page, "#final video")["duration"] > 0
    poster = page.request.get(urljoin(page.url, video.get_attribute("poster") or ""))
    assert poster.ok and poster.headers["content-type"] == "image/jpeg"  # the stored poster
    # Beside it, what goes on a landing page: its one cut (no hook variants), the video at the
    # clips' own aspect (no renditions), its watch page and embed snippet.
    cut = _wait(page, "#publish .published-cut")
    assert cut.count() == 1 and cut.locator(".rendition a").inner_text() == "Video"
    assert "/watch/" in (cut.locator(".watch-link").get_attribute("href") or "")
    assert "<iframe" in cut.locator("textarea").input_value()
    assert "speed 0.8" in page.locator("#narration-hook .voice-params").inner_text()
    page.locator("#section-hook > details.history summary").click()  # each earlier take
    assert "too dark" in page.locator("#section-hook .old-take").inner_text()  # with its note
    page.locator("#narration-hook details.history summary").click()
    old = page.locator("#narration-hook .old-narration").inner_text()
    assert "slower, please" in old and "speed 1" in old
    assert _playable(page, "#old-voice-hook-1")["duration"] > 0  # the earlier voice plays
    assert "a warm kitchen at dusk, lamps on" in page.locator("#section-hook").inner_text()
    screenshot(page, "final-video")
    with page.expect_download() as download:
        page.locator("#download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".mp4" and (probe_media(saved).duration_s or 0) > 0

    # Compile again as AVI (a draft: the cheapest to encode): the form starts from the
    # script's options, captions on, the transitions in words.
    assert page.locator("#compile-captions").is_checked()
    assert not page.locator("#compile-form input[name^=renditions-]:checked").count()
    labels = page.locator("#compile-transition option").all_inner_texts()
    assert "Cross-fade" in labels and not any(":" in label for label in labels), labels
    page.locator("#compile-format").select_option("avi")
    page.locator("#compile-quality").select_option("draft")
    with page.expect_navigation():
        page.locator("#compile-form").get_by_role("button", name="Compile").click()

    # While it compiles: the same pages on a phone, over the same state (no second sign-in
    # or generation), folded forms opened, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/studio",
        "/studio/scripts/walk",
        "/studio/scripts/walk/edit",
        "/studio/scripts/walk/duplicate",
        "/studio/review",
        "/studio/review/walk/preview",
    ):
        page.goto(f"{studio.url}{path}")
        for _ in range(3):  # folded forms opened, as a person would
            folded = page.locator("details:not([open]) > summary:visible")
            if not folded.count():
                break
            folded.first.click()
        _fits_a_phone(page)
        if path == "/studio/scripts/walk":
            screenshot(page, "script-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{studio.url}/studio/scripts/walk")
    page.get_by_role("link", name=re.compile(r"Download the video \(avi")).wait_for(
        timeout=FLOW_TIMEOUT_MS
    )
    with studio.db.connect() as conn:
        latest = conn.execute(
            "SELECT output_format, options FROM compilations WHERE script_id = 'walk'"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert latest["output_format"] == "avi" and latest["options"] == {}, "only what changed"
    with page.expect_download() as download:
        page.locator("#download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".avi" and (probe_media(saved).duration_s or 0) > 0

    # Duplicate: a new script from the takes as they were made (the retake's prompt). The
    # daemon is done with: the copy stays queued, not generated for nothing.
    studio.daemon.kill()
    page.locator("#duplicate-script").click()
    page.locator("#duplicate-id").fill("walk-copy")
    page.locator("#create-copy").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/walk-copy")
    with studio.db.connect() as conn:
        copy = conn.execute("SELECT document FROM scripts WHERE id = 'walk-copy'").fetchone()
    prompts = [s["keyframe"]["prompt"] for s in copy["document"]["sections"]]
    assert prompts == ["a warm kitchen at dusk, lamps on", "a family laughing at a table"]
    page.get_by_role("link", name="Scripts").first.click()
    assert "compiled" in page.locator("table.scripts tr", has_text="walk · ").inner_text()
    screenshot(page, "scripts")
    assert refused == [], refused
    print(f"the whole loop, both widths: {time.monotonic() - started:.1f} s")
