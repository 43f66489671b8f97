"""The studio over plain HTTP (issue 27): "Compile again" starts from the script's renditions,
reframe and delivery switches (read as a browser submits the form) and posting it changes only
what was changed; the publish fragment lists every cut of the latest compilation with each of
its renditions, its delivery files, its watch link and embed snippet, and the split link."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL
from tests.fixtures.scripts import record_clip
from tests.web.studio.test_script_page import form_fields
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import Delivery, Output, Script
from vsl_pipelines.services.compilation import requested_output
from vsl_pipelines.services.cuts import final_prefix
from vsl_pipelines.services.review import decide
from vsl_pipelines.storage.local import LocalMediaStore

SCRIPT = "spring-launch"
PAGE = f"/studio/scripts/{SCRIPT}"
SECTIONS = ("hook", "offer", "close")
OUTPUT = Output(
    renditions=["9:16", "16:9"],
    reframe="blur",
    delivery=Delivery(hls=True, captions=["srt"], poster=True),
)


@pytest.fixture
def placed(db: Database, sample_script: Script) -> Script:
    """The sample script made for placements (two renditions, 9:16 first, blurred fill, HLS,
    SRT captions, a poster), every section approved."""
    script = sample_script.model_copy(update={"output": OUTPUT})
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
        for section in SECTIONS:
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
    return script


def _latest(db: Database) -> compilation_rows.CompilationRow:
    with db.connect() as conn:
        return compilation_rows.compilations_of(conn, SCRIPT)[0]


def _release(db: Database) -> None:
    with db.connect() as conn:
        compilation_rows.fail_compilation(conn, _latest(db).id, "the test's")


def test_compile_again_starts_from_the_script_s_renditions_and_delivery(
    client: TestClient, db: Database, placed: Script
) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200, page.text[:500]
    fields = form_fields(page.text, "compile-form")
    assert fields.pop("csrf")
    ticked = sorted(name for name, value in fields.items() if value == "on")
    assert ticked == [
        "delivery-hls", "delivery-poster", "delivery-srt", "renditions-16x9", "renditions-9x16",
    ]  # fmt: skip
    assert fields["reframe"] == "blur"
    # The boxes in the script's order (its first is the landing page's), then the others.
    boxes = re.findall(r'name="(renditions-[^"]+)"', page.text)
    assert boxes == ["renditions-9x16", "renditions-16x9", "renditions-1x1"]

    untouched = client.post(
        f"{PAGE}/compile", data=form_fields(page.text, "compile-form"), follow_redirects=False
    )
    assert untouched.status_code == 303, untouched.text[:300]
    row = _latest(db)
    assert row.options == {}, "nothing changed, nothing overridden"
    assert requested_output(placed.output, row).model_dump() == placed.output.model_dump()
    _release(db)

    changed = {**form_fields(page.text, "compile-form"), "renditions-1x1": "on"}
    del changed["renditions-9x16"], changed["delivery-hls"]
    changed |= {"reframe": "crop", "delivery-vtt": "on"}
    assert client.post(f"{PAGE}/compile", data=changed, follow_redirects=False).status_code == 303
    row = _latest(db)
    assert row.options == {
        "renditions": ["16:9", "1:1"],
        "reframe": "crop",
        "delivery": {"hls": False, "captions": ["srt", "vtt"]},
    }
    output = requested_output(placed.output, row)
    assert (output.renditions, output.reframe, output.delivery.poster) == (
        ["16:9", "1:1"],
        "crop",
        True,
    )
    _release(db)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"reframe": "stretch"}, "reframe"),
        ({"renditions-4x3": "on"}, "renditions"),
        ({"quality": "best"}, "format or quality"),
    ],
)
def test_a_bad_choice_in_compile_again_is_422_and_stores_nothing(
    client: TestClient, db: Database, placed: Script, change: dict[str, str], named: str
) -> None:
    fields = {**form_fields(client.get(PAGE).text, "compile-form"), **change}
    refused = client.post(f"{PAGE}/compile", data=fields)
    assert refused.status_code == 422
    assert named in html.unescape(refused.text)
    with db.connect() as conn:
        assert compilation_rows.compilations_of(conn, SCRIPT) == []


def variant_plan(prefix: str, name: str) -> dict[str, Any]:
    """A compilation's plan as `services.cuts` stores it for two hook variants in two
    renditions, one rendition with delivery files of its own."""

    def rendition(cut: str, aspect: str, width: int, height: int) -> dict[str, Any]:
        key = f"{prefix}/{name}-{cut}-{aspect.replace(':', 'x')}.mp4"
        return {
            "aspect": aspect, "key": key, "uri": key, "width": width, "height": height,
            "duration_s": 9.5, "size_bytes": 2_400_000,
        }  # fmt: skip

    cuts = []
    for variant, cut in (("hook=a", "hook-a"), ("hook=b", "hook-b")):
        renditions = [rendition(cut, "9:16", 720, 1280), rendition(cut, "1:1", 720, 720)]
        renditions[1]["delivery"] = {
            "hls": {"master": f"{prefix}/{name}-{cut}-1x1-hls/master.m3u8"},
            "poster": f"{prefix}/{name}-{cut}-1x1-poster.jpg",
        }
        cuts.append(
            {
                "variant": variant,
                "name": f"{name}-{cut}",
                "key": renditions[0]["key"],
                "duration_s": 9.5,
                "renditions": renditions,
                "delivery": {
                    "hls": {"master": f"{prefix}/{name}-{cut}-hls/master.m3u8"},
                    "captions": {
                        "vtt": f"{prefix}/{name}-{cut}-captions.vtt",
                        "srt": f"{prefix}/{name}-{cut}-captions.srt",
                    },
                    "chapters": f"{prefix}/{name}-{cut}-chapters.vtt",
                    "poster": f"{prefix}/{name}-{cut}-poster.jpg",
                },
            }
        )
    return {"renditions": cuts[0]["renditions"], "delivery": cuts[0]["delivery"], "cuts": cuts}


def test_the_publish_fragment_lists_every_cut_with_its_renditions_and_files(
    client: TestClient, db: Database, placed: Script, api_media_store: LocalMediaStore
) -> None:
    before = client.get(f"{PAGE}/publish")
    assert before.status_code == 200 and "once a compile has succeeded" in before.text
    prefix = final_prefix(SCRIPT)
    with db.connect() as conn:
        row = compilation_rows.request_compilation(
            conn, SCRIPT, output_format="mp4", quality="draft", options={}, requested_by="t"
        )
        assert row is not None
        plan = variant_plan(prefix, f"{SCRIPT}-c{row.id}")
        compilation_rows.claim_compilation(conn, row.id, SCRIPT)
        compilation_rows.finish_compilation(
            conn, row.id, output_key=plan["cuts"][0]["key"], output_uri="x", duration_s=9.5,
            size_bytes=2_400_000, clip_count=3, cost_usd=0.0, plan=plan,
        )  # fmt: skip
        cuts = [watch_rows.ensure_cut(conn, row.id, c["variant"]) for c in plan["cuts"]]

    fragment = client.get(f"{PAGE}/publish")
    assert fragment.status_code == 200
    text = html.unescape(fragment.text)
    sections = re.findall(
        r'<section class="published-cut" id="cut-([^"]+)"(.*?)</section>', text, re.S
    )
    assert [public_id for public_id, _ in sections] == [c.public_id for c in cuts]
    for (public_id, body), stored in zip(sections, plan["cuts"], strict=True):
        assert f'data-variant="{stored["variant"]}"' in body
        watch = f"{LOCAL_BASE_URL}/watch/{public_id}"
        assert f'href="{watch}"' in body and f'<iframe src="{watch}"' in body
        # The snippet's frame has the aspect the page plays: the cut's first rendition, 9:16.
        assert "padding-top:177.78%" in body
        links = dict(re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', body))
        by_label = {label: url for url, label in links.items()}
        for rendition in stored["renditions"]:
            assert by_label[rendition["aspect"]] == api_media_store.public_url(rendition["key"])
            size = f"{rendition['width']}x{rendition['height']}"
            assert re.search(
                rf">{re.escape(rendition['aspect'])}</a> <span class=\"meta\">{size} · 9.5 s · 2.4 MB<",
                body,
            )
        # A rendition's own files, shown when the compile made them.
        own = stored["renditions"][1]["delivery"]
        assert by_label["1:1 poster"] == api_media_store.public_url(own["poster"])
        assert by_label["1:1 HLS master"] == api_media_store.public_url(own["hls"]["master"])
        delivery = stored["delivery"]
        # The cut's HLS through its watch page's files, so its playlists resolve from any store.
        master = delivery["hls"]["master"].removeprefix(f"{prefix}/")
        assert by_label["HLS master playlist"] == f"{watch}/files/{master}"
        assert by_label["Poster"] == api_media_store.public_url(delivery["poster"])
        assert by_label["Captions (VTT)"] == api_media_store.public_url(delivery["captions"]["vtt"])
        assert by_label["Captions (SRT)"] == api_media_store.public_url(delivery["captions"]["srt"])
        assert by_label["Chapters (WebVTT)"] == api_media_store.public_url(delivery["chapters"])
    split = re.search(r'id="split-link" href="([^"]+)"', text)
    assert split is not None and split.group(1).startswith(f"{LOCAL_BASE_URL}/watch/s/")
    assigned = client.get(split.group(1).removeprefix(LOCAL_BASE_URL), follow_redirects=False)
    assert assigned.status_code == 303
    assert assigned.headers["location"] in {f"/watch/{c.public_id}" for c in cuts}
