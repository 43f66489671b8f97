"""A script with hook variants compiled from real takes over real Postgres: each variant a
section of its own until compiled, one cut per variant under the script's `final/` prefix,
each with its renditions and delivery files, the watch page playing each cut's own video."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.fixtures.media import ClipFactory, decode_summary
from tests.fixtures.scripts import PROJECT_ROOT, store_take
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Delivery, Output, load_script
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.delivery import DeliverySpec
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.services.compilation import compile_script, expected_duration
from vsl_pipelines.services.cuts import _delivery_check, compile_cut, final_prefix, store_cut
from vsl_pipelines.services.review import decide, unapproved_sections
from vsl_pipelines.services.script_state import script_status
from vsl_pipelines.services.watch import latest_cuts, watch_cut
from vsl_pipelines.storage.local import LocalMediaStore

BOOTSTRAP = "bootstrap-key-of-the-cuts-test"
VARIANTS = PROJECT_ROOT / "config" / "scripts" / "spring-launch-variants.yaml"
SCRIPT = "spring-launch-variants"


def test_each_hook_is_reviewed_on_its_own_and_compiled_into_a_cut_of_its_own(
    db: Database,
    registry: Registry,
    tmp_path: Path,
    make_clip: ClipFactory,
    make_image: Callable[..., Path],
    make_voice: Callable[..., Path],
    make_music: Callable[..., Path],
    build_api_app: BuildApiApp,
) -> None:
    script = load_script(VARIANTS, registry)
    # Two renditions and no HLS ladder keep it small; the demo's flow makes the whole set.
    output = script.output.model_copy(
        update={
            "renditions": ["16:9", "9:16"],
            "delivery": Delivery(captions=["vtt"], chapters=True, poster=True),
        }
    )
    script = script.model_copy(update={"output": output})
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1/media")
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
    voices = {"hook~question": 0.8, "hook~promise": 1.4, "offer": 1.0, "close": 1.0}
    for section, seconds in voices.items():
        store_take(db, store, SCRIPT, section, "narration", 1, make_voice(seconds=seconds))
        if section == "offer":  # a still: its keyframe is what the compile holds on screen
            store_take(db, store, SCRIPT, section, "keyframe", 1, make_image(width=320, height=180))
        clip = make_clip(width=320, height=180, seconds=1.0, tone=300 + 100 * len(section))
        store_take(db, store, SCRIPT, section, "clip", 1, clip)
    store_take(db, store, SCRIPT, "", "soundtrack", 1, make_music(seconds=3.0))
    with db.connect() as conn:
        for section in voices:
            for subject in ("clip", "narration"):
                if section != "hook~promise":
                    decide(conn, SCRIPT, section, "approved", subject=subject)
        # Each variant waits for its own decision, by its own id; the status says whose it is.
        assert unapproved_sections(conn, SCRIPT) == ["hook~promise", "hook~promise (narration)"]
        status = {s["section"]: s for s in script_status(conn, SCRIPT)["sections"]}
        assert (status["hook~promise"]["variant_of"], status["hook~promise"]["variant"]) == (
            "hook",
            "promise",
        )
        assert status["hook~promise"]["decision"] is None and status["offer"]["variant"] is None
        decide(conn, SCRIPT, "hook~promise", "approved", subject="clip")
        decide(conn, SCRIPT, "hook~promise", "approved", subject="narration")

    compiled = compile_script(db, store, SCRIPT)

    cuts = compiled.plan["cuts"]
    assert [c["variant"] for c in cuts] == ["hook=question", "hook=promise"]
    assert compiled.key.endswith("-hook-question-16x9.mp4")
    assert all(check["ok"] for check in compiled.checks), compiled.checks
    for cut, hook_s in zip(cuts, (0.8, 1.4), strict=True):
        assert [r["aspect"] for r in cut["renditions"]] == ["16:9", "9:16"]
        for rendition in cut["renditions"]:
            summary = decode_summary(store.local_path(rendition["key"]))
            assert summary["sizes"] == {(rendition["width"], rendition["height"])}
        # The cut lasts its own hook's voice, the shared sections' and their pauses.
        assert cut["duration_s"] == pytest.approx(hook_s + 1.0 + 1.0 + 3 * 0.4, abs=0.1)
        chapters = store.local_path(cut["delivery"]["chapters"]).read_text()
        assert chapters.count(" --> ") == 3 and "hook" in chapters
        assert store.local_path(cut["delivery"]["captions"]["vtt"]).read_text().count(" --> ") >= 3
        assert store.exists(cut["delivery"]["poster"])
        # Each rendition its own poster; the tracks, timed alike, once for the cut.
        assert cut["delivery"] == cut["renditions"][0]["delivery"]
        for rendition in cut["renditions"]:
            poster = rendition["delivery"]["poster"]
            assert poster.endswith(f"-{rendition['aspect'].replace(':', 'x')}-poster.jpg")
            assert store.exists(poster)
            assert rendition["delivery"]["chapters"] == cut["delivery"]["chapters"]
    with db.connect() as conn:
        assert expected_duration(conn, SCRIPT) == pytest.approx(cuts[0]["duration_s"], abs=0.1)
        rows = watch_rows.cuts_of_compilation(conn, compiled.compilation_id)
    assert [row.variant for row in rows] == ["hook=question", "hook=promise"]
    # The watch page and the split link play each cut's own files.
    assert [c.variant for c in latest_cuts(db, SCRIPT)] == ["hook=question", "hook=promise"]
    played = [watch_cut(db, row.public_id) for row in rows]
    assert [p.video if p else None for p in played] == [
        f"{SCRIPT}-c{compiled.compilation_id}-hook-question-16x9.mp4",
        f"{SCRIPT}-c{compiled.compilation_id}-hook-promise-16x9.mp4",
    ]
    assert played[1] is not None and played[1].chapters and "promise" in played[1].chapters

    # The API lists each cut with its own video and its watch page.
    api = TestClient(build_api_app(api_key=BOOTSTRAP, media_store=store), base_url=LOCAL_BASE_URL)
    answer = api.get(
        f"/api/compilations/{compiled.compilation_id}", headers={"X-API-Key": BOOTSTRAP}
    )
    assert answer.status_code == 200, answer.text
    listed = [
        {k: c.get(k) for k in ("variant", "compiledVideoUrl", "watchPath")}
        for c in answer.json()["cuts"]
    ]
    assert listed == [
        {
            "variant": row.variant,
            "compiledVideoUrl": store.public_url(cut["key"]),
            "watchPath": f"/watch/{row.public_id}",
        }
        for row, cut in zip(rows, cuts, strict=True)
    ]


def test_a_variants_retake_prompt_is_carried_into_the_document_as_written(
    db: Database, registry: Registry
) -> None:
    """The editor and Export YAML start from the script as its takes were made: a variant's
    retake prompt lands on that variant, inside its section."""
    from vsl_pipelines.db.scripts import start_new_take
    from vsl_pipelines.domain.script import parse_script
    from vsl_pipelines.services.script_versions import current_document

    with db.connect() as conn:
        insert_script(conn, load_script(VARIANTS, registry), None, default_workspace_id(conn))
        start_new_take(conn, SCRIPT, "hook~promise", {"prompt": "a calm parent, closer"})
        document = current_document(conn, SCRIPT)
    hook = document["sections"][0]
    assert [v["id"] for v in hook["variants"]] == ["question", "promise"]
    assert hook["variants"][1]["keyframe"]["prompt"] == "a calm parent, closer"
    assert hook["variants"][0]["keyframe"]["prompt"].startswith("a tired parent")
    assert parse_script(document, "edited", registry).section("hook~promise").keyframe


RENDITIONS = ["16:9", "9:16", "1:1"]


def _aspect_of(width: int, height: int, of: tuple[int, int]) -> bool:
    """`width`x`height` at the aspect of `of` (to a rounded pixel, as halves are made even)."""
    return abs(width * of[1] - height * of[0]) <= max(of)


def test_every_rendition_gets_its_own_hls_ladder_and_poster_and_shares_the_tracks(
    tmp_path: Path, make_clip: ClipFactory
) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1/media")
    inputs = [
        ClipInput(
            path=make_clip(width=320, height=180, seconds=1.5), caption="Tired?", title="hook"
        ),
        ClipInput(
            path=make_clip(width=320, height=180, seconds=1.0, tone=500),
            caption="Meet Planwise.",
            title="offer",
        ),
    ]
    output = Output(
        renditions=RENDITIONS,
        delivery=Delivery(hls=True, captions=["vtt", "srt"], chapters=True, poster=True),
    )
    options = CompileOptions(preset="ultrafast", verify="off", reframe="crop")
    cut = compile_cut(store, "launch", "launch-c7", inputs, options, output, tmp_path / "work")

    final = tmp_path / "media" / final_prefix("launch")
    names = {p.name for p in final.iterdir()}
    assert names == {
        *(f"launch-c7-{a}.mp4" for a in ("16x9", "9x16", "1x1")),
        *(f"launch-c7-{a}-poster.jpg" for a in ("16x9", "9x16", "1x1")),
        *(f"launch-c7-{a}-hls" for a in ("16x9", "9x16", "1x1")),
        "launch-c7-captions.vtt", "launch-c7-captions.srt", "launch-c7-chapters.vtt",
    }  # fmt: skip
    assert [r["aspect"] for r in cut.renditions] == RENDITIONS
    # The cut's own delivery is the first rendition's, as API consumers read it.
    assert cut.delivery == cut.renditions[0]["delivery"]
    assert cut.poster_key == "scripts/launch/final/launch-c7-16x9-poster.jpg"
    shared = {k: cut.delivery[k] for k in ("captions", "chapters")}
    assert shared["captions"]["vtt"].endswith("/launch-c7-captions.vtt")
    for rendition in cut.renditions:
        delivery, size = rendition["delivery"], (rendition["width"], rendition["height"])
        assert {k: delivery[k] for k in ("captions", "chapters")} == shared
        # A JPEG of its rendition's aspect.
        poster = store.local_path(delivery["poster"])
        assert poster.read_bytes()[:3] == b"\xff\xd8\xff", poster
        with av.open(str(poster)) as container:
            picture = next(container.decode(video=0))
        assert _aspect_of(picture.width, picture.height, size), (rendition, picture)
        # An HLS master FFmpeg decodes, over at least two streams at the rendition's aspect.
        master = store.local_path(delivery["hls"]["master"])
        assert master.parent.name == f"launch-c7-{rendition['aspect'].replace(':', 'x')}-hls"
        assert master.read_text().count("#EXT-X-STREAM-INF") >= 2
        played = subprocess.run(
            [ffmpeg_path(), "-v", "error", "-i", str(master), "-map", "0", "-f", "null", "-"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert played.returncode == 0 and not played.stderr.strip(), played.stderr
        with av.open(str(master)) as container:
            sizes = [(s.width, s.height) for s in container.streams.video]
        assert len(sizes) >= 2 and all(_aspect_of(w, h, size) for w, h in sizes), sizes
    [stored_check] = [c for c in cut.checks if c["name"] == "delivery files stored"]
    assert stored_check["ok"] and stored_check["detail"].endswith("for each of 16:9, 9:16, 1:1"), (
        stored_check
    )

    # The check reads the store: a rendition's poster or rung playlist gone is named.
    store.local_path(cut.renditions[1]["delivery"]["poster"]).unlink()
    rung = cut.renditions[2]["delivery"]["hls"]["rungs"][1]["name"]
    (
        store.local_path(cut.renditions[2]["delivery"]["hls"]["master"]).parent / f"{rung}.m3u8"
    ).unlink()
    spec = DeliverySpec(hls=True, captions=["vtt", "srt"], chapters=True, poster=True)
    check = _delivery_check(store, spec, cut.renditions)
    assert check == {
        "name": "delivery files stored",
        "ok": False,
        "detail": "missing 9:16 poster, 1:1 hls",
    }


def test_a_rendition_whose_captions_read_otherwise_gets_its_own_tracks(
    tmp_path: Path, make_clip: ClipFactory
) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1/media")
    clip = make_clip(width=320, height=180, seconds=1.0)
    work = tmp_path / "work"
    work.mkdir()
    options = CompileOptions(preset="ultrafast", verify="off", reframe="crop")
    files = {"16:9": work / "launch-c8-16x9.mp4", "9:16": work / "launch-c8-9x16.mp4"}
    results = {
        aspect: compile_video(
            [ClipInput(path=clip, caption=text, title="hook")],
            files[aspect],
            options.model_copy(update={"aspect": aspect}),
        )
        for aspect, text in (("16:9", "Tired?"), ("9:16", "Tired of deciding?"))
    }
    output = Output(renditions=["16:9", "9:16"], delivery=Delivery(captions=["vtt"], chapters=True))
    cut = store_cut(store, "launch", "launch-c8", files, results, options, output, work)
    wide, tall = (r["delivery"] for r in cut.renditions)
    assert wide["captions"]["vtt"].endswith("/launch-c8-captions.vtt")
    assert tall["captions"]["vtt"].endswith("/launch-c8-9x16-captions.vtt")
    assert "Tired of deciding?" in store.local_path(tall["captions"]["vtt"]).read_text()
    assert "Tired of deciding?" not in store.local_path(wide["captions"]["vtt"]).read_text()
    # Its chapters read the same: its captions came with its own copy of them, named for it.
    assert tall["chapters"].endswith("/launch-c8-9x16-chapters.vtt")
    assert all(c["ok"] for c in cut.checks), cut.checks
