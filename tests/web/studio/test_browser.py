"""The studio in a real browser (Debian's chromium driven by Playwright) against the sandbox,
the service and the real Dagster daemon: a script written in the editor is generated, a take
rejected with a new prompt comes back, every take is approved, the compiled video plays in the
page and downloads. A voiced section plays as it will sound (its preview) and its narration,
rejected with a new speed from the keyboard, comes back on its own. Plus the refusals a browser meets: sign-in, an error at its field, a
cross-site post.

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
        yield Studio(url, db, root)
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


@pytest.mark.timeout(300)
def test_write_generate_review_compile_play_and_download(
    page: Any, studio: Studio, tmp_path: Path
) -> None:
    started = time.monotonic()
    sign_in(page, studio)
    page.get_by_role("link", name="New script", exact=True).first.click()
    page.get_by_label("Title", exact=True).fill("Browser launch")
    page.locator("#id").fill("browser-launch")
    page.locator("#sections-0-id").fill("hook")
    page.locator("#sections-0-narration").fill("Dinner, <planned> in ten minutes.")
    page.locator("#sections-0-keyframe-prompt").fill("a calm kitchen at dusk")
    page.get_by_role("button", name="+ Add section").click()
    _wait(page, "#sections-1-narration", 15_000)
    page.locator("#sections-1-id").fill("close")
    page.locator("#sections-1-narration").fill("Start your free trial today.")
    page.locator("#sections-1-keyframe-prompt").fill("a family at a table")
    page.locator("#estimate").get_by_text("$0.006").wait_for()  # two flux-schnell keyframes
    screenshot(page, "editor")
    page.get_by_role("button", name="Create script and start generating").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/browser-launch")

    # Generation arrives without a reload (htmx polls the page every 2 s).
    _wait(page, "#approve-hook-1")
    _wait(page, "#reject-open-close-1")  # the reject form, folded until opened
    assert (
        page.locator("#section-hook blockquote").inner_text() == "Dinner, <planned> in ten minutes."
    )
    screenshot(page, "script")

    page.locator("#reject-open-close-1 summary").click()
    page.locator("#reject-note-close").fill("too dark")
    page.locator("#reject-prompt-close").fill("a family laughing at a sunny table")
    page.locator("#reject-close-1").get_by_role("button", name="Reject take 1").click()
    _wait(page, "#approve-close-2")  # the new take, made from the new prompt
    assert "a family laughing at a sunny table" in page.locator("#section-close").inner_text()
    page.locator("#section-close details.history summary").click()
    assert "too dark" in page.locator("#section-close .old-take").inner_text()

    page.locator("#approve-hook-1").get_by_role("button", name="Approve take 1").click()
    _wait(page, "#approve-close-2")
    page.locator("#approve-close-2").get_by_role("button", name="Approve take 2").click()

    video = _wait(page, "#final video")
    duration = page.evaluate(
        """async () => {
            const video = document.querySelector('#final video');
            if (video.readyState < 1) {
                await new Promise((done, failed) => {
                    video.addEventListener('loadedmetadata', done, {once: true});
                    video.addEventListener('error', () => failed(video.error && video.error.message), {once: true});
                });
            }
            return video.duration;
        }"""
    )
    assert duration > 0
    assert video.get_attribute("poster")
    screenshot(page, "final-video")

    with page.expect_download() as download:
        page.locator("#download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    probe = probe_media(saved)
    assert probe.duration_s and probe.duration_s > 0

    page.get_by_role("link", name="Scripts").first.click()
    row = page.locator("table.scripts tr", has_text="browser-launch")
    assert "compiled" in row.inner_text()
    screenshot(page, "scripts")
    print(f"studio flow in the browser: {time.monotonic() - started:.1f} s")


@pytest.mark.timeout(300)
def test_a_voiced_section_is_heard_and_its_narration_retaken(page: Any, studio: Studio) -> None:
    """A script with a voice: the section's narration take, words and voice are shown, the
    section plays as it will sound (clip and voice until the preview is rendered, then the
    preview), the page fits a phone, and a narration rejected with a slower speed (typed,
    submitted with Enter) comes back as take 2 while the clip stays on its take 1; approving
    both asks for the compile."""
    sign_in(page, studio, "/studio/scripts/new")
    page.get_by_label("Title", exact=True).fill("Voiced launch")
    page.locator("#id").fill("voiced-launch")
    page.locator("#sections-0-id").fill("hook")
    page.locator("#sections-0-narration").fill("Dinner, planned in ten minutes.")
    page.locator("#sections-0-keyframe-prompt").fill("a calm kitchen at dusk")
    # Choosing the voice model shows its voices and speed (in its closed parameters).
    page.locator("#voice-model").select_option("kokoro-82m")
    _wait(page, "#voice-param-voice", 15_000, state="attached")
    page.locator("#estimate").get_by_text("$0.00525").wait_for()  # a keyframe and a narration
    page.get_by_role("button", name="Create script and start generating").click()
    page.wait_for_url(f"{studio.url}/studio/scripts/voiced-launch")

    _wait(page, "#approve-both-hook-c1-n1")  # clip and narration approved with one action
    _wait(page, "#reject-voice-open-hook-1")
    assert page.locator("#spoken-hook").inner_text() == "Dinner, planned in ten minutes."
    voice = page.locator("#narration-hook .voice-params").inner_text()
    assert "kokoro-82m" in voice and "voice af_bella" in voice and "speed 1" in voice
    either = "#preview-hook-c1-n1, #voice-hook-1"
    _wait(page, either)
    played = _playable(page, either)
    assert played["duration"] > 0 and played["readyState"] >= 1, played
    _wait(page, "#preview-hook-c1-n1", 60_000)  # the preview replaces clip and voice
    played = _playable(page, "#preview-hook-c1-n1")
    assert played["duration"] > 0 and played["readyState"] >= 1, played
    assert "As it will sound" in page.locator("#section-hook figcaption").inner_text()
    screenshot(page, "narration")
    _fits_a_phone(page)

    # Too fast: the narration rejected with a slower speed, typed and sent with Enter.
    page.locator("#reject-voice-open-hook-1 summary").click()
    page.locator("#reject-voice-note-hook").fill("slower, please")
    speed = page.locator("#reject-voice-speed-hook")
    assert speed.input_value() == "1"  # the model's default, shown
    speed.fill("0.8")
    speed.press("Enter")
    _wait(page, "#approve-both-hook-c1-n2")
    assert "speed 0.8" in page.locator("#narration-hook .voice-params").inner_text()
    assert "take 1" in page.locator("#section-hook h3").inner_text()  # the clip is unchanged
    page.locator("#narration-hook details.history summary").click()
    old = page.locator("#narration-hook .old-narration").inner_text()
    assert "slower, please" in old and "speed 1" in old
    assert _playable(page, "#old-voice-hook-1")["duration"] > 0

    page.locator("#separately-hook-c1-n2 summary").click()  # the clip alone, then the voice
    page.locator("#approve-hook-1").get_by_role("button", name="Approve take 1").click()
    _wait(page, "#approve-voice-hook-2")
    button = page.locator("#approve-voice-hook-2").get_by_role(
        "button", name="Approve narration take 2"
    )
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        """() => {
            const status = document.getElementById('compile-status');
            return document.querySelector('#final video')
                || (status && /Compilation \\d+/.test(status.textContent));
        }""",
        timeout=FLOW_TIMEOUT_MS,
    )  # both approved: the compile is asked for
    assert page.locator("#narration-hook").get_attribute("data-decision") == "approved"
