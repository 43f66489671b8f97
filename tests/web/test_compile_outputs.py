"""A compile request's renditions, reframe and delivery switches (issue 27), over real HTTP:
accepted, carried by the stored request to a real compile, whose cuts the compilation lists
with each rendition and delivery file by its signed media URL; a bad value is a 422 naming its
field that stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.api import StartApi
from tests.fixtures.media import ClipFactory, decode_summary
from tests.fixtures.scripts import record_clip, store_take
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import load_stored_script
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.compilation import compile_script, requested_output
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.storage.signing import MediaUrlSigner
from vsl_pipelines.web.server import RunningService

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


def _approve_all(service: RunningService) -> None:
    for section in SECTIONS:
        url = f"{service.url}/api/scripts/{SCRIPT}/sections/{section}/approve"
        assert httpx.post(url, json={}, timeout=10).status_code == 201


def _stored(db: Database) -> dict[str, Any]:
    """Everything a compile request could change: the compilations, the script's document
    and status, the audit log."""
    with db.connect() as conn:
        return {
            "compilations": conn.execute("SELECT * FROM compilations ORDER BY id").fetchall(),
            "script": conn.execute(
                "SELECT document, status FROM scripts WHERE id = %s", (SCRIPT,)
            ).fetchone(),
            "audit": conn.execute("SELECT count(*) AS n FROM audit_log").fetchone(),
        }


def test_renditions_reframe_and_delivery_reach_the_compile_and_its_listing(
    start_api: StartApi,
    db: Database,
    stored_script: Script,
    api_media_store: LocalMediaStore,
    make_clip: ClipFactory,
) -> None:
    api = start_api(media_signer=MediaUrlSigner("compile-outputs-secret", 600))
    for section in SECTIONS:
        clip = make_clip(width=320, height=180, seconds=1.0, tone=300 + 100 * len(section))
        store_take(db, api_media_store, SCRIPT, section, "clip", 1, clip)
    _approve_all(api)
    asked = {
        "renditions": ["9:16", "1:1"],
        "reframe": "blur",
        "delivery": {"captions": ["vtt", "srt"], "chapters": True},
        "quality": "draft",
    }
    answer = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json=asked, timeout=10)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["options"] == {k: v for k, v in asked.items() if k != "quality"}
    with db.connect() as conn:
        row = compilation_rows.compilation(conn, accepted["compilationId"])
        script = load_stored_script(conn, SCRIPT)
    assert row is not None
    output = requested_output(script.output, row)
    assert (output.renditions, output.reframe) == (["9:16", "1:1"], "blur")
    # The switches asked for change; the others stay as the script has them (HLS off).
    assert output.delivery.model_dump() == {
        "hls": script.output.delivery.hls,
        "captions": ["vtt", "srt"],
        "chapters": True,
        "poster": script.output.delivery.poster,
    }

    compiled = compile_script(db, api_media_store, SCRIPT, row.id)  # real FFmpeg, as the run

    assert [r["aspect"] for r in compiled.renditions] == ["9:16", "1:1"]
    assert {clip["reframe"] for clip in compiled.plan["clips"]} == {"blur"}
    body = httpx.get(f"{api.url}/api/compilations/{row.id}", timeout=10).json()
    assert body["status"] == "succeeded"
    [cut] = body["cuts"]
    assert cut["variant"] == "main" and cut["watchPath"].startswith("/watch/")
    assert [r["aspect"] for r in cut["renditions"]] == ["9:16", "1:1"]
    media = api_media_store.public_base_url
    assert cut["compiledVideoUrl"] == cut["renditions"][0]["url"]
    for listed, stored in zip(cut["renditions"], compiled.renditions, strict=True):
        assert listed["url"].split("?")[0] == f"{media}/{stored['key']}"
        assert "?sig=" in listed["url"], "signed, as every media URL the API hands out"
        assert (listed["width"], listed["height"]) == (stored["width"], stored["height"])
        assert listed["fileSize"] == stored["size_bytes"] and listed["duration"] > 2.5
        width, height = (int(n) for n in listed["aspect"].split(":"))
        assert listed["width"] * height == listed["height"] * width
        # The URL opens the file through the service's /media, and it decodes at its size.
        fetched = httpx.get(listed["url"].replace(media, f"{api.url}/media"), timeout=10)
        assert fetched.status_code == 200 and len(fetched.content) == listed["fileSize"]
        summary = decode_summary(api_media_store.local_path(stored["key"]))
        assert summary["sizes"] == {(listed["width"], listed["height"])}
    delivery = cut["delivery"]
    assert delivery["hlsMasterUrl"] is None, "not asked for, not made"
    assert sorted(delivery["captions"]) == ["srt", "vtt"]
    texts = {
        name: httpx.get(url.replace(media, f"{api.url}/media"), timeout=10)
        for name, url in {
            **delivery["captions"],
            "chapters": delivery["chaptersUrl"],
            "poster": delivery["posterUrl"],
        }.items()
    }
    assert all(r.status_code == 200 for r in texts.values()), {
        k: r.status_code for k, r in texts.items()
    }
    assert texts["vtt"].text.startswith("WEBVTT") and "Tired of deciding" in texts["vtt"].text
    assert " --> " in texts["srt"].text and "Meet Planwise" in texts["srt"].text
    assert texts["chapters"].text.count(" --> ") == len(SECTIONS)
    assert texts["poster"].content[:3] == b"\xff\xd8\xff"  # a JPEG


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"renditions": ["16:9", "4:3"]}, "renditions.1", "unknown aspect '4:3'"),
        ({"renditions": ["9:16", "1:1", "9:16"]}, "renditions", "'9:16' listed more than once"),
        ({"renditions": "9:16"}, "renditions", "list"),
        ({"renditions": ["16:9", "9:16", "1:1", "16:9"]}, "renditions", "at most 3"),
        ({"reframe": "stretch"}, "reframe", "'crop' or 'blur'"),
        ({"reframe": ["crop"]}, "reframe", "'crop' or 'blur'"),
        ({"delivery": {"captions": ["vtt", "ass"]}}, "delivery.captions.1", "'vtt' or 'srt'"),
        ({"delivery": {"captions": ["srt", "srt"]}}, "delivery.captions", "more than once"),
        ({"delivery": {"dash": True}}, "delivery.dash", "Extra inputs"),
        ({"delivery": {"hls": "maybe"}}, "delivery.hls", "boolean"),
        ({"delivery": ["hls"]}, "delivery", "dictionary"),
    ],
)
def test_a_bad_output_field_is_422_naming_it_and_stores_nothing(
    start_api: StartApi,
    db: Database,
    stored_script: Script,
    body: dict[str, Any],
    field: str,
    why: str,
) -> None:
    api = start_api()
    with db.connect() as conn:
        for section in SECTIONS:
            record_clip(conn, section)
    _approve_all(api)
    before = _stored(db)
    answer = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json=body, timeout=10)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert f"{field}:" in detail and why in detail, detail
    assert _stored(db) == before
    assert before["compilations"] == []


def test_an_empty_renditions_list_asks_for_one_video_at_the_clips_aspect(
    start_api: StartApi, db: Database, stored_script: Script
) -> None:
    """`[]` is a choice (no renditions), not a missing field: stored, and honoured."""
    api = start_api()
    with db.connect() as conn:
        for section in SECTIONS:
            record_clip(conn, section)
    _approve_all(api)
    answer = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile",
        json={"renditions": [], "delivery": {"hls": True}},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["options"] == {"renditions": [], "delivery": {"hls": True}}
