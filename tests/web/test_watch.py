"""The landing-page player over HTTP: the public watch page and its files, the signed event posts
(forged 403, oversized 413, malformed 422, flooding 429, each refused losing nothing already
stored, none a 500), one event kept per viewer and kind, the split link's sticky uniform choice,
and `GET /api/scripts/{id}/variants` counting what was posted."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.watch import PublishCut
from tests.fixtures.watch_renditions import PublishRenditions
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.web.server import RunningService

VIEWER = "viewer-0001"


def _signature(page: str) -> str:
    found = re.search(r'data-sig="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def _events(db: Database, cut: str) -> Counter[str]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT e.kind FROM watch_events e JOIN cuts c ON c.id = e.cut_id"
            " WHERE c.public_id = %s",
            (cut,),
        ).fetchall()
    return Counter(r["kind"] for r in rows)


@pytest.fixture
def served(start_watch_service: Any, publish_cut: PublishCut) -> tuple[RunningService, Any, str]:
    """The service, a published cut (with a CTA and a redirect at the end) and its signature."""
    service = start_watch_service(events_per_minute=40, min_viewers=2)
    cut = publish_cut(
        "watch-launch",
        {
            "cta": {"text": "Start free", "url": "https://example.com/start", "at_s": 1.5},
            "end": {"redirect": "https://example.com/thanks"},
        },
    )
    page = httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10)
    assert page.status_code == 200, page.text[:300]
    return service, cut, _signature(page.text)


_CLIENTS: dict[str, httpx.Client] = {}  # one keep-alive connection per service


def _client(service: RunningService) -> httpx.Client:
    if service.url not in _CLIENTS:
        _CLIENTS[service.url] = httpx.Client(base_url=service.url, timeout=10)
    return _CLIENTS[service.url]


@pytest.fixture(autouse=True, scope="module")
def _close_clients() -> Any:
    yield
    for client in _CLIENTS.values():
        client.close()


def _post(service: RunningService, **body: Any) -> httpx.Response:
    return _client(service).post("/api/events", json=body)


def test_the_page_is_public_embeddable_and_plays_the_cut(served: Any) -> None:
    service, cut, _ = served
    page = httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10)
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers
    text = page.text
    assert 'href="https://example.com/start"' in text and "Start free" in text
    assert 'data-cta-at="1.5"' in text and 'data-redirect="https://example.com/thanks"' in text
    assert "/studio/static/hls.light.min.js" in text
    video = httpx.get(f"{service.url}/watch/{cut.cut}/files/watch-launch-c{cut.compilation_id}.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert "immutable" in video.headers["cache-control"]
    hls = httpx.get(f"{service.url}/studio/static/hls.light.min.js", timeout=10)
    assert hls.status_code == 200 and "Hls" in hls.text[-2000:]


UNKNOWN = (
    "/watch/AAAAAAAAAAAAAAAA",  # no such cut
    "/watch/short",
    "/watch/{cut}/files/other-script-c1.mp4",  # not one of the cut's files
    "/watch/{cut}/files/..%2F..%2Fsecret",
    "/watch/s/AAAAAAAAAAAAAAAA",
)


def test_unknown_cuts_and_files_are_404(served: Any) -> None:
    service, cut, _ = served
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for path in UNKNOWN:
            response = client.get(path.format(cut=cut.cut))
            assert response.status_code == 404, (path, response.text[:200])


def test_an_event_is_kept_once_per_viewer_and_kind(served: Any, db: Database) -> None:
    service, cut, sig = served
    for _ in range(3):
        answer = _post(service, cut=cut.cut, sig=sig, viewer=VIEWER, kind="play")
        assert answer.status_code == 200, answer.text
    assert answer.json() == {"recorded": False}
    assert _post(service, cut=cut.cut, sig=sig, viewer=VIEWER, kind="cta").json() == {
        "recorded": True
    }
    assert _events(db, cut.cut) == Counter({"play": 1, "cta": 1})


def test_forged_oversized_and_malformed_posts_are_refused_and_lose_nothing(
    served: Any, db: Database
) -> None:
    service, cut, sig = served
    assert _post(service, cut=cut.cut, sig=sig, viewer=VIEWER, kind="view").status_code == 200
    before = _events(db, cut.cut)
    other = "B" * 16
    refused = {
        "forged signature": _post(service, cut=cut.cut, sig=sig[:-2] + "xx", viewer="v2345678", kind="cta"),
        "another cut's": _post(service, cut=other, sig=sig, viewer="v2345678", kind="cta"),
        "oversized": httpx.post(
            f"{service.url}/api/events",
            content=b'{"cut": "' + b"x" * 4000 + b'"}',
            headers={"content-type": "application/json"},
            timeout=10,
        ),
        "not JSON": httpx.post(f"{service.url}/api/events", content=b"{", timeout=10),
        "unknown kind": _post(service, cut=cut.cut, sig=sig, viewer=VIEWER, kind="buy"),
        "bad viewer": _post(service, cut=cut.cut, sig=sig, viewer="<script>", kind="play"),
        "extra field": _post(service, cut=cut.cut, sig=sig, viewer=VIEWER, kind="play", n=5),
    }  # fmt: skip
    statuses = {what: r.status_code for what, r in refused.items()}
    assert statuses == {
        "forged signature": 403,
        "another cut's": 403,
        "oversized": 413,
        "not JSON": 422,
        "unknown kind": 422,
        "bad viewer": 422,
        "extra field": 422,
    }, {what: r.text[:200] for what, r in refused.items()}
    assert _events(db, cut.cut) == before


def test_flooding_is_429_and_keeps_what_was_stored(served: Any, db: Database) -> None:
    service, cut, sig = served
    answers = [
        _post(service, cut=cut.cut, sig=sig, viewer=f"flood-{n:04d}", kind="view").status_code
        for n in range(50)
    ]
    assert answers[:35].count(200) == 35  # the page's own posts (before) took a few
    assert answers[-1] == 429 and set(answers) == {200, 429}
    kept = answers.count(200)
    assert _events(db, cut.cut)["view"] == kept  # the refused ones added nothing, lost nothing
    response = _post(service, cut=cut.cut, sig=sig, viewer="late-viewer", kind="view")
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1


def test_events_are_kept_while_the_rate_limiter_is_out_of_reach(
    start_watch_service: Any, publish_cut: PublishCut, db: Database
) -> None:
    service = start_watch_service(redis="redis://127.0.0.1:1/0")  # nothing listens there
    cut = publish_cut("unlimited-launch")
    sig = _signature(httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10).text)
    answer = _post(service, cut=cut.cut, sig=sig, viewer=VIEWER, kind="view")
    assert answer.status_code == 200 and answer.json() == {"recorded": True}
    assert (
        _post(service, cut=cut.cut, sig=sig[:-1] + "x", viewer=VIEWER, kind="cta").status_code
        == 403
    )
    assert _events(db, cut.cut) == Counter({"view": 1})


@pytest.fixture
def lenient(start_watch_service: Any, publish_cut: PublishCut) -> RunningService:
    """A service whose event rate no fuzzed post reaches."""
    publish_cut("fuzzed-launch")
    return start_watch_service(events_per_minute=10_000)


BODIES = st.one_of(
    st.binary(max_size=600),
    st.dictionaries(
        st.sampled_from(["cut", "sig", "viewer", "kind", "x"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(),
            st.text(max_size=80),
            st.sampled_from(["view", "cta", "A" * 16, "viewer-0001"]),
            st.lists(st.integers(), max_size=3),
        ),
    ).map(lambda d: json.dumps(d).encode()),
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(body=BODIES)
def test_no_event_post_gets_a_server_error(lenient: RunningService, body: bytes) -> None:
    response = _client(lenient).post(
        "/api/events", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (403, 413, 422), (body[:100], response.text[:200])


def test_the_split_link_assigns_uniformly_and_sticks(served: Any, db: Database) -> None:
    service, cut, _ = served
    with db.connect() as conn:
        second = watch_rows.ensure_cut(conn, cut.compilation_id, "b")
        link = watch_rows.split_link(conn, cut.script_id)
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=service.url, timeout=10) as browser:
        for _ in range(40):  # each a new viewer: no cookie
            browser.cookies.clear()
            answer = browser.get(f"/watch/s/{link}")
            assert answer.status_code == 303
            seen[answer.headers["location"].rsplit("/", 1)[1]] += 1
        assert set(seen) == {cut.cut, second.public_id}
        assert min(seen.values()) >= 8  # uniform: P(fewer than 8 of 40) is about 2e-5
        browser.cookies.clear()
        first = browser.get(f"/watch/s/{link}").headers["location"]
        assert all(browser.get(f"/watch/s/{link}").headers["location"] == first for _ in range(8))


def test_the_variants_report_counts_the_posts(served: Any, start_watch_service: Any) -> None:
    service, cut, sig = served
    for n in range(3):
        viewer = f"viewer-{n:04d}"
        for kind in ("view", "play", "q25") + (("cta",) if n == 0 else ()):
            assert _post(service, cut=cut.cut, sig=sig, viewer=viewer, kind=kind).status_code == 200
    report = httpx.get(f"{service.url}/api/scripts/{cut.script_id}/variants", timeout=10)
    assert report.status_code == 200, report.text
    document = report.json()
    [figures] = document["cuts"]
    assert figures["cut"] == cut.cut and figures["variant"] == "main"
    assert (figures["viewers"], figures["plays"], figures["ctaClicks"]) == (3, 3, 1)
    assert figures["retention"]["q25"] == 1.0 and figures["ctaRate"] == pytest.approx(0.3333)
    assert document["leader"] is None  # one cut: nothing to compare
    assert httpx.get(f"{service.url}/api/scripts/nope/variants", timeout=10).status_code == 404
    bad = httpx.get(f"{service.url}/api/scripts/{cut.script_id}/variants?metric=x", timeout=10)
    assert bad.status_code == 422


def _renditions(page: str) -> list[dict[str, Any]]:
    found = re.search(r"data-renditions='([^']*)'", page)
    assert found, page[:500]
    listed: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
    return listed


def test_the_page_lists_every_rendition_and_serves_each_ones_files(
    start_watch_service: Any, publish_renditions: PublishRenditions
) -> None:
    service = start_watch_service()
    cut = publish_renditions("watch-renditions")
    page = httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10)
    assert page.status_code == 200, page.text[:300]
    listed = _renditions(page.text)
    assert [(r["aspect"], r["width"], r["height"]) for r in listed] == [
        ("16:9", 320, 180),
        ("9:16", 180, 320),
        ("1:1", 180, 180),
    ]
    name = f"watch-renditions-c{cut.compilation_id}"
    files = f"/watch/{cut.cut}/files"
    # One caption track for all; the picture's files each rendition's own.
    assert {r["captions"] for r in listed} == {f"{files}/{name}-captions.vtt"}
    assert f'<track kind="captions" src="{files}/{name}-captions.vtt"' in page.text
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for rendition in listed:
            part = rendition["aspect"].replace(":", "x")
            assert rendition["mp4"] == f"{files}/{name}-{part}.mp4"
            assert rendition["poster"] == f"{files}/{name}-{part}-poster.jpg"
            assert rendition["hls"] == f"{files}/{name}-{part}-hls/master.m3u8"
            types = {
                "mp4": "video/mp4",
                "poster": "image/jpeg",
                "hls": "application/vnd.apple.mpegurl",
            }
            for field_name, kind in types.items():
                answer = client.get(rendition[field_name])
                assert answer.status_code == 200, (rendition[field_name], answer.text[:200])
                assert answer.headers["content-type"] == kind
            # The master's playlists and a segment resolve beside it.
            folder = rendition["hls"].rsplit("/", 1)[0]
            playlists = re.findall(r"^(\S+\.m3u8)$", client.get(rendition["hls"]).text, re.M)
            assert len(playlists) >= 2, playlists
            segments = re.findall(r"^(\S+\.ts)$", client.get(f"{folder}/{playlists[0]}").text, re.M)
            segment = client.get(f"{folder}/{segments[0]}")
            assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
        # Another name in a rendition's folder's place is not the cut's.
        assert client.get(f"{files}/{name}-4x3-hls/master.m3u8").status_code == 404
        assert client.get(f"{files}/{name}-9x16-hls").status_code == 404


def test_a_plan_from_before_per_rendition_delivery_plays_each_renditions_mp4(
    start_watch_service: Any, publish_renditions: PublishRenditions, db: Database
) -> None:
    """A compilation stored when only the first rendition had delivery files: the page
    still lists every rendition, the others played from their MP4s with the cut's tracks."""
    service = start_watch_service()
    cut = publish_renditions("watch-older-plan", renditions=["16:9", "9:16"])
    with db.connect() as conn:
        conn.execute(
            "UPDATE compilations SET plan = jsonb_set(plan, '{renditions}',"
            " (SELECT jsonb_agg(r - 'delivery') FROM jsonb_array_elements(plan->'renditions') r))"
            " WHERE id = %s",
            (cut.compilation_id,),
        )
    listed = _renditions(httpx.get(f"{service.url}/watch/{cut.cut}", timeout=10).text)
    first, second = listed
    assert first["hls"] and first["hls"].endswith("-16x9-hls/master.m3u8") and first["poster"]
    assert (second["aspect"], second["hls"], second["poster"]) == ("9:16", None, None)
    assert second["captions"] == first["captions"] is not None
    answer = httpx.get(f"{service.url}{second['mp4']}", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"] == "video/mp4"
