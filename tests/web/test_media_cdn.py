"""`VSL_MEDIA_CDN_URL` through the service built from settings, over real HTTP: the API hands out
a compiled video at the CDN when it is set, presigned when it is not, and the landing-page
player plays a cut's files from the CDN (its policy admitting the CDN's origin there alone) or,
without one, through the service as before; on the moto server, whose path-style bucket URL
stands in for CloudFront (a bucket policy lets it read the final objects, as the stack's lets
CloudFront; like CloudFront's, its answers carry CORS headers for the page's origin)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.fixtures.api import add_clip
from tests.fixtures.aws import REGION
from tests.fixtures.media import ClipFactory
from tests.fixtures.watch_renditions import PublishRenditions
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.settings import Settings
from vsl_pipelines.storage.s3 import S3MediaStore
from vsl_pipelines.web.server import (
    RunningService,
    build_app_from_settings,
    start_service_in_thread,
)
from vsl_pipelines.web.watch import CONTENT_SECURITY_POLICY

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


def _final_objects_readable_by_the_cdn(client: Any, bucket: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/scripts/*/final/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def _published(service: RunningService, db: Database, store: S3MediaStore, video: Path) -> int:
    """A compilation of the sample script, asked for through the API and finished as the
    compile run finishes one: its video stored under the script's final prefix."""
    for section in SECTIONS:
        add_clip(db, SCRIPT, section)
        url = f"{service.url}/api/scripts/{SCRIPT}/sections/{section}/approve"
        assert httpx.post(url, json={}, timeout=10).status_code == 201
    compilation_id: int = httpx.post(
        f"{service.url}/api/scripts/{SCRIPT}/compile", json={}, timeout=10
    ).json()["compilationId"]
    key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"
    with db.connect() as conn:
        compilation_rows.claim_compilation(conn, compilation_id, SCRIPT)
        compilation_rows.finish_compilation(
            conn,
            compilation_id,
            output_key=key,
            output_uri=store.put_file(key, video),
            duration_s=1.0,
            size_bytes=video.stat().st_size,
            clip_count=3,
            cost_usd=0.1,
            plan={},
        )
    return compilation_id


def _settings(
    db: Database, bucket: str, moto_server: str, media: Path, cdn: str, monkeypatch: Any
) -> Settings:
    """The service's settings on the bucket, the CDN URL set or empty."""
    # The service's own S3 client takes boto3's usual chain: the moto server's dummy keys.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return Settings(
        DATABASE_URL=db.url,
        REPLICATE_WEBHOOK_SECRET="whsec_" + "A" * 43 + "=",
        VSL_MEDIA_ROOT=media,
        VSL_S3_BUCKET=bucket,
        AWS_ENDPOINT_URL=moto_server,
        AWS_REGION=REGION,
        VSL_MEDIA_CDN_URL=cdn,
    )


@pytest.mark.parametrize("with_cdn", [True, False], ids=["cdn", "no-cdn"])
def test_the_api_hands_out_final_videos_at_the_media_cdn_when_set(
    with_cdn: bool,
    db: Database,
    stored_script: Script,
    s3_bucket: tuple[Any, str],
    moto_server: str,
    tmp_path: Path,
    make_clip: ClipFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, bucket = s3_bucket
    _final_objects_readable_by_the_cdn(client, bucket)
    cdn = f"{moto_server}/{bucket}"
    settings = _settings(
        db, bucket, moto_server, tmp_path / "media", f"{cdn}/" if with_cdn else "", monkeypatch
    )
    service = start_service_in_thread(build_app_from_settings(settings))
    try:
        video = make_clip()
        store = S3MediaStore(bucket, client=client, cache_dir=tmp_path / "cache")
        compilation_id = _published(service, db, store, video)
        key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"

        body = httpx.get(f"{service.url}/api/compilations/{compilation_id}", timeout=10).json()
        url = body["compiledVideoUrl"]
        download = httpx.get(f"{service.url}/api/scripts/{SCRIPT}/video", timeout=10)
    finally:
        service.stop()
    if with_cdn:
        assert url == f"{cdn}/{key}"
    else:
        assert url.startswith(f"{moto_server}/") and "X-Amz-Signature=" in url
    assert download.status_code == 307
    assert download.headers["location"].split("?")[0] == url.split("?")[0]
    served = httpx.get(url, timeout=10)
    assert served.status_code == 200 and served.content == video.read_bytes()
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"


WATCH_SCRIPT = "cdn-watch"
TYPES = {
    "mp4": "video/mp4",
    "hls": "application/vnd.apple.mpegurl",
    "poster": "image/jpeg",
    "captions": "text/vtt; charset=utf-8",
}


def _renditions(page: str) -> list[dict[str, Any]]:
    found = re.search(r"data-renditions='([^']*)'", page)
    assert found, page[:500]
    listed: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
    return listed


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {name: sources for name, *sources in parts}


@pytest.fixture
def watch_on_s3(
    db: Database,
    s3_bucket: tuple[Any, str],
    moto_server: str,
    tmp_path: Path,
    publish_renditions: PublishRenditions,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """`start(with_cdn) -> (service, cut, cdn)`: a 3-rendition cut compiled into the bucket and
    the service built from settings on it, the CDN URL set or not."""
    client, bucket = s3_bucket
    _final_objects_readable_by_the_cdn(client, bucket)
    cdn = f"{moto_server}/{bucket}"
    store = S3MediaStore(bucket, client=client, cache_dir=tmp_path / "compile-cache")
    cut = publish_renditions(WATCH_SCRIPT, store=store)
    started: list[RunningService] = []

    def start(with_cdn: bool) -> tuple[RunningService, Any, str]:
        settings = _settings(
            db, bucket, moto_server, tmp_path / "media", cdn if with_cdn else "", monkeypatch
        )
        started.append(start_service_in_thread(build_app_from_settings(settings)))
        return started[-1], cut, cdn

    yield start
    for service in started:
        service.stop()


def test_the_watch_page_plays_a_cut_from_the_media_cdn(watch_on_s3: Any) -> None:
    service, cut, cdn = watch_on_s3(True)
    page = httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10)
    assert page.status_code == 200, page.text[:300]
    origin = re.match(r"https?://[^/]+", cdn)
    assert origin is not None
    policy = _directives(page.headers["content-security-policy"])
    today = _directives(CONTENT_SECURITY_POLICY)
    # The CDN's origin where the player fetches the cut's files, and nowhere else.
    for name in ("img-src", "media-src", "connect-src"):
        assert sorted(policy[name]) == sorted([*today[name], origin.group(0)]), policy[name]
    assert {
        k: v for k, v in policy.items() if k not in ("img-src", "media-src", "connect-src")
    } == {k: v for k, v in today.items() if k not in ("img-src", "media-src", "connect-src")}
    base = f"{cdn}/scripts/{WATCH_SCRIPT}/final"
    name = f"{WATCH_SCRIPT}-c{cut.compilation_id}"
    listed = _renditions(page.text)
    assert [r["aspect"] for r in listed] == ["16:9", "9:16", "1:1"]
    assert f'<track kind="captions" src="{base}/{name}-captions.vtt"' in page.text
    with httpx.Client(timeout=10, headers={"Origin": service.url}) as client:
        for rendition in listed:
            part = rendition["aspect"].replace(":", "x")
            assert rendition["mp4"] == f"{base}/{name}-{part}.mp4"
            assert rendition["hls"] == f"{base}/{name}-{part}-hls/master.m3u8"
            assert rendition["poster"] == f"{base}/{name}-{part}-poster.jpg"
            assert rendition["captions"] == f"{base}/{name}-captions.vtt"
            for field, kind in TYPES.items():
                answer = client.get(rendition[field])
                assert answer.status_code == 200, (rendition[field], answer.text[:200])
                assert answer.headers["content-type"] == kind
                # The player's page reads them across origins (hls.js by XHR, crossorigin media).
                assert answer.headers["access-control-allow-origin"] in ("*", service.url)
            master = client.get(rendition["hls"])
            assert master.headers["cache-control"] == "public, max-age=60"
            folder = rendition["hls"].rsplit("/", 1)[0]
            playlists = re.findall(r"^(\S+\.m3u8)$", master.text, re.M)
            assert len(playlists) >= 2, playlists
            segments = re.findall(r"^(\S+\.ts)$", client.get(f"{folder}/{playlists[0]}").text, re.M)
            segment = client.get(f"{folder}/{segments[0]}")
            assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
            assert segment.content[:1] == b"\x47"  # an MPEG-TS packet's sync byte


def test_without_the_media_cdn_the_watch_page_serves_the_files_itself(watch_on_s3: Any) -> None:
    service, cut, cdn = watch_on_s3(False)
    page = httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10)
    assert page.status_code == 200, page.text[:300]
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert cdn not in page.text
    files = f"/watch/{cut.cut}/files"
    name = f"{WATCH_SCRIPT}-c{cut.compilation_id}"
    listed = _renditions(page.text)
    assert [r["hls"] for r in listed] == [
        f"{files}/{name}-{a}-hls/master.m3u8" for a in ("16x9", "9x16", "1x1")
    ]
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for field, kind in TYPES.items():
            answer = client.get(listed[1][field])
            assert answer.status_code == 200, (listed[1][field], answer.text[:200])
            assert answer.headers["content-type"] == kind


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_chromium_plays_the_cut_from_the_media_cdn(chromium_browser: Any, watch_on_s3: Any) -> None:
    """Under the page's policy, hls.js fetches the playlists and segments from the CDN and
    plays them; the poster and captions come from there too, and nothing is refused."""
    service, cut, cdn = watch_on_s3(True)
    context = chromium_browser.new_context(viewport={"width": 960, "height": 540})
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused: list[str] = []  # what the policy refused, and any file not found
    page.on("console", lambda m: refused.append(m.text) if "Policy" in m.text else None)
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    try:
        page.goto(f"{service.url}/watch/{cut.cut}")
        page.wait_for_function("() => document.getElementById('player').currentTime > 0.2")
        state = page.evaluate(
            """() => {
              const video = document.getElementById('player');
              const track = video.querySelector('track[kind=captions]');
              return {src: video.currentSrc, poster: video.poster, track: track.src,
                      trackState: track.readyState, rendition: video.dataset.rendition,
                      fetched: performance.getEntriesByType('resource').map(e => e.name)}
            }"""
        )
    finally:
        context.close()
    base = f"{cdn}/scripts/{WATCH_SCRIPT}/final/{WATCH_SCRIPT}-c{cut.compilation_id}"
    assert state["src"].startswith("blob:"), state  # HLS through hls.js (MSE), not the MP4
    assert state["rendition"] == "16:9"
    assert state["poster"] == f"{base}-16x9-poster.jpg"
    assert state["track"] == f"{base}-captions.vtt" and state["trackState"] == 2  # loaded
    media = [u for u in state["fetched"] if u.endswith((".m3u8", ".ts"))]
    assert any(u.endswith(".ts") for u in media), state["fetched"]
    assert all(u.startswith(f"{base}-16x9-hls/") for u in media), media
    assert [u for u in refused if not u.endswith("/favicon.ico")] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://d111111abcdef8.cloudfront.net",
        "https://media.example.com:8443/vsl",
        "http://127.0.0.1:9000/bucket/",
    ],
)
def test_a_cdn_url_is_an_origin_and_a_path(url: str) -> None:
    assert Settings(VSL_MEDIA_CDN_URL=url).media_cdn_url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com; script-src *",  # would widen the watch page's policy
        "https://cdn.example.com/'unsafe-inline'",
        "https://cdn.example.com/a b",
        "ftp://cdn.example.com",
        "https://cdn.example.com/?signed=1",
        "cdn.example.com",
    ],
)
def test_a_cdn_url_that_could_break_the_watch_page_s_policy_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="VSL_MEDIA_CDN_URL"):
        Settings(VSL_MEDIA_CDN_URL=url)
