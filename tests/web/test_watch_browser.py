"""The landing-page player in Debian's Chromium: a 3 s cut (FFmpeg's test pattern, its HLS
ladder, captions and poster) plays muted through hls.js, shows its captions and, from its time,
the call-to-action; a returning viewer resumes; tap-to-unmute and the CTA click are reported,
and the counts appear in the variant report; the end action redirects; the page and the studio's
report are clean under axe-core. A cut in 16:9, 9:16 and 1:1 plays the rendition that fits the
screen (9:16 on a phone held upright, 16:9 on a laptop, 1:1 in a square frame) and keeps it
when the phone turns mid-play."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.fixtures.watch import PublishCut
from tests.fixtures.watch_renditions import PublishRenditions
from tests.web.studio.test_accessibility import violations
from vsl_pipelines.db.database import Database

pytestmark = pytest.mark.browser

CTA_AT_S = 1.0


def _report(url: str, script_id: str, want: dict[str, int]) -> dict[str, Any]:
    """The cut's figures once they hold `want` (the page's posts are not awaited)."""
    deadline = time.monotonic() + 10
    while True:
        [figures] = httpx.get(f"{url}/api/scripts/{script_id}/variants", timeout=10).json()["cuts"]
        if all(figures[k] == v for k, v in want.items()) or time.monotonic() > deadline:
            return dict(figures)
        time.sleep(0.1)


@pytest.mark.timeout(120)
def test_a_cut_plays_with_captions_and_cta_and_its_events_reach_the_report(
    chromium_browser: Any, start_watch_service: Any, publish_cut: PublishCut, db: Database
) -> None:
    service = start_watch_service(min_viewers=1)
    cut = publish_cut(
        "player-launch",
        {"cta": {"text": "Start free", "url": f"{service.url}/healthz", "at_s": CTA_AT_S}},
        media=True,
    )
    context = chromium_browser.new_context(viewport={"width": 960, "height": 540})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{service.url}/watch/{cut.cut}")
        page.wait_for_function("() => document.getElementById('player').currentTime > 0.05")
        state = page.evaluate(
            """() => {
              const video = document.getElementById('player');
              const track = video.textTracks[0];
              return {src: video.currentSrc, muted: video.muted, t: video.currentTime,
                      ctaHidden: document.getElementById('cta').hidden,
                      mode: track.mode, kind: track.kind}
            }"""
        )
        assert state["src"].startswith("blob:"), state  # HLS through hls.js (MSE), not the MP4
        assert state["muted"] and (state["mode"], state["kind"]) == ("showing", "captions")
        if state["t"] < CTA_AT_S - 0.2:
            assert state["ctaHidden"], state
        page.wait_for_function(
            "() => [...(document.getElementById('player').textTracks[0].activeCues || [])]"
            ".some(c => c.text === 'Tired of deciding?')"
        )
        unmute = page.get_by_role("button", name="Tap to unmute")
        unmute.click()
        assert page.evaluate("document.getElementById('player').muted") is False
        assert unmute.is_hidden()
        cta = page.get_by_role("link", name="Start free")
        cta.wait_for(state="visible")
        assert page.evaluate("document.getElementById('player').currentTime") >= CTA_AT_S
        assert violations(page) == []
        page.wait_for_function("() => document.getElementById('player').ended", timeout=10_000)

        # A returning viewer starts where they left off.
        page.evaluate(f"localStorage.setItem('vsl-position:{cut.cut}', '2')")
        page.reload()
        page.wait_for_function("() => document.getElementById('player').currentTime >= 1.9")

        page.get_by_role("link", name="Start free").wait_for(state="visible")
        with page.expect_navigation():
            page.get_by_role("link", name="Start free").click()
        assert page.url == f"{service.url}/healthz"

        want = {"viewers": 1, "plays": 1, "unmutes": 1, "ctaClicks": 1}
        figures = _report(service.url, cut.script_id, want)
        assert {k: figures[k] for k in want} == want, figures
        assert figures["retention"] == {"q25": 1.0, "q50": 1.0, "q75": 1.0, "q100": 1.0}

        # The end action, from the script as it stands: redirect (the top page) at the end.
        end = {"redirect": f"{service.url}/healthz?ended=1"}
        with db.connect() as conn:
            conn.execute(
                "UPDATE scripts SET document = jsonb_set(document, '{output,end}', %s::jsonb)"
                " WHERE id = %s",
                (json.dumps(end), cut.script_id),
            )
        page.goto(f"{service.url}/watch/{cut.cut}")
        page.evaluate(f"localStorage.setItem('vsl-position:{cut.cut}', '2')")
        page.reload()
        page.wait_for_url(end["redirect"], timeout=10_000)

        # The studio: the snippet beside the final video, the report's chart and table.
        page.goto(f"{service.url}/studio/scripts/{cut.script_id}")
        snippet = page.get_by_label("Embed snippet (paste into the landing page's HTML)")
        assert f"/watch/{cut.cut}" in snippet.input_value()
        page.get_by_role("link", name="Which hook wins").click()
        row = page.locator(f"#variants-table tr[data-cut='{cut.cut}']")
        assert row.locator("td.viewers").inner_text() == "1"
        assert row.locator("td.cta-rate").inner_text() == "100.0%"
        assert page.locator("#retention-chart svg[role=img]").count() == 1
        assert violations(page) == []
    finally:
        context.close()


VIEWPORTS = [  # the frame the page fills -> the rendition it plays
    ({"width": 390, "height": 844}, "9:16"),  # a phone held upright
    ({"width": 1280, "height": 800}, "16:9"),  # a laptop
    ({"width": 600, "height": 640}, "1:1"),  # a square-ish embed
]


@pytest.mark.timeout(180)
def test_the_page_plays_the_rendition_that_fits_the_screen_and_keeps_it(
    chromium_browser: Any, start_watch_service: Any, publish_renditions: PublishRenditions
) -> None:
    service = start_watch_service()
    cut = publish_renditions("player-renditions")
    for viewport, aspect in VIEWPORTS:
        context = chromium_browser.new_context(viewport=viewport)
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            page.goto(f"{service.url}/watch/{cut.cut}")
            page.wait_for_function(
                "() => { const v = document.getElementById('player');"
                " return v.currentTime > 0.2 && v.videoWidth > 0; }"
            )
            state = page.evaluate(PLAYING)
            name = aspect.replace(":", "x")
            assert state["rendition"] == aspect, (viewport, state)
            assert state["src"].startswith("blob:"), state  # its HLS ladder through hls.js
            assert f"-{name}-poster.jpg" in state["poster"], state
            width, height = (int(side) for side in aspect.split(":"))
            # The picture decoded is the rendition's, at its aspect (whichever rung plays).
            assert abs(state["w"] * height - state["h"] * width) <= max(width, height) * 2, state
            assert (state["w"] > state["h"]) == (width > height), state
            assert (state["w"] == state["h"]) == (width == height), state
            # Playback advances, with the captions track (one for every rendition).
            page.wait_for_function(
                f"() => document.getElementById('player').currentTime > {state['t'] + 0.3}"
            )
            assert state["track"] == ["showing", "captions"], state
            if aspect == "9:16":
                # Turned mid-play: the same rendition plays on, not restarted.
                page.set_viewport_size({"width": 844, "height": 390})
                before = page.evaluate(PLAYING)
                page.wait_for_function(
                    f"() => document.getElementById('player').currentTime > {before['t'] + 0.3}"
                )
                after = page.evaluate(PLAYING)
                assert (after["rendition"], after["src"]) == (aspect, state["src"]), after
                assert (after["w"], after["h"]) == (state["w"], state["h"]), after
        finally:
            context.close()


PLAYING = """() => {
  const video = document.getElementById('player');
  const track = video.textTracks[0];
  return {rendition: video.dataset.rendition, src: video.currentSrc, poster: video.poster,
          w: video.videoWidth, h: video.videoHeight, t: video.currentTime,
          track: [track.mode, track.kind]};
}"""
