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
from tests.web.studio.test_publish_outputs import variant_plan
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import load_stored_script
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.compilation import compile_script, requested_output
from vsl_pipelines.services.cuts import final_prefix
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


def test_each_cut_of_hook_variants_lists_its_own_renditions_and_files(
    start_api: StartApi, db: Database, stored_script: Script, api_media_store: LocalMediaStore
) -> None:
    """A compilation's plan as `services.cuts` stores it for two hook variants: each cut its own
    renditions (one with delivery files of its own) and delivery files, by signed URL."""
    api = start_api(media_signer=MediaUrlSigner("compile-outputs-secret", 600))
    with db.connect() as conn:
        row = compilation_rows.request_compilation(
            conn, SCRIPT, output_format="mp4", quality="draft", options={}, requested_by="t"
        )
        assert row is not None
        plan = variant_plan(final_prefix(SCRIPT), f"{SCRIPT}-c{row.id}")
        compilation_rows.claim_compilation(conn, row.id, SCRIPT)
        compilation_rows.finish_compilation(
            conn, row.id, output_key=plan["cuts"][0]["key"], output_uri="x", duration_s=9.5,
            size_bytes=2_400_000, clip_count=3, cost_usd=0.0, plan=plan,
        )  # fmt: skip
        rows = [watch_rows.ensure_cut(conn, row.id, c["variant"]) for c in plan["cuts"]]

    body = httpx.get(f"{api.url}/api/compilations/{row.id}", timeout=10).json()

    def signed(url: str | None) -> str | None:
        assert url is not None and "?sig=" in url
        return url.split("?")[0]

    def key_url(key: str) -> str:
        return f"{api_media_store.public_base_url}/{key}"

    assert [c["variant"] for c in body["cuts"]] == ["hook=a", "hook=b"]
    for listed, stored, cut_row in zip(body["cuts"], plan["cuts"], rows, strict=True):
        assert listed["watchPath"] == f"/watch/{cut_row.public_id}"
        assert signed(listed["compiledVideoUrl"]) == key_url(stored["key"])
        assert [
            (r["aspect"], r["width"], r["height"], r["duration"], r["fileSize"], signed(r["url"]))
            for r in listed["renditions"]
        ] == [
            (r["aspect"], r["width"], r["height"], 9.5, 2_400_000, key_url(r["key"]))
            for r in stored["renditions"]
        ]
        assert listed["renditions"][0]["delivery"] is None
        own = listed["renditions"][1]["delivery"]
        mine = stored["renditions"][1]["delivery"]
        assert signed(own["hlsMasterUrl"]) == key_url(mine["hls"]["master"])
        assert signed(own["posterUrl"]) == key_url(mine["poster"])
        delivery, files = listed["delivery"], stored["delivery"]
        assert signed(delivery["hlsMasterUrl"]) == key_url(files["hls"]["master"])
        assert signed(delivery["posterUrl"]) == key_url(files["poster"])
        assert signed(delivery["chaptersUrl"]) == key_url(files["chapters"])
        assert {fmt: signed(url) for fmt, url in delivery["captions"].items()} == {
            fmt: key_url(key) for fmt, key in files["captions"].items()
        }
