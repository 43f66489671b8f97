"""A script with hook variants compiled from real takes over real Postgres: each variant a
section of its own until compiled, one cut per variant under the script's `final/` prefix,
each with its renditions and delivery files, the watch page playing each cut's own video."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
from vsl_pipelines.domain.script import Delivery, load_script
from vsl_pipelines.services.compilation import compile_script, expected_duration
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
    assert answer.json()["cuts"] == [
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
