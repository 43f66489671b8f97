"""Section previews: a voiced section's clip and voice rendered as the final video plays them,
from real takes in a real media store, measured by decoding the result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import pytest

from tests.fixtures.media import ClipFactory
from tests.fixtures.scripts import NARRATED_SCRIPT, store_take
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script, start_new_narration_take
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import load_script
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.services.previews import preview_key, render_previews, section_previews
from vsl_pipelines.storage.local import LocalMediaStore

SCRIPT = "spring-launch-narrated"


@pytest.fixture
def narrated(db: Database, registry: Registry) -> str:
    with db.connect() as conn:
        insert_script(
            conn,
            load_script(NARRATED_SCRIPT, registry),
            str(NARRATED_SCRIPT),
            default_workspace_id(conn),
        )
    return SCRIPT


def test_a_preview_is_the_clip_timed_to_its_voice_with_the_voice_in_it(
    db: Database,
    narrated: str,
    tmp_path: Path,
    make_clip: ClipFactory,
    make_voice: Callable[..., Path],
) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1/media")
    clip = make_clip(width=320, height=240, seconds=1.0, audio=False)
    voice = make_voice(text="Tired of deciding what to cook every single night?")
    voice_s = probe_media(voice).duration_s
    store_take(db, store, SCRIPT, "hook", "clip", 1, clip)
    assert render_previews(db, store, narrated) == [], "no voice yet: no preview"

    store_take(db, store, SCRIPT, "hook", "narration", 1, voice)
    # The close has a voice but no clip yet: nothing to preview there either.
    store_take(db, store, SCRIPT, "close", "narration", 1, voice)
    made = render_previews(db, store, narrated)
    key = preview_key(narrated, "hook", 1, 1)
    assert made == [key]
    with av.open(str(store.local_path(key))) as container:
        duration_s = float(container.duration or 0) / 1e6
        assert container.streams.audio, "the voice is in the preview"
        frames = sum(1 for _ in container.decode(video=0))
    # The script's timing: the section lasts its voice and the 0.4 s pause after it, though
    # the clip is a second long (slowed 1.5 times, then held).
    assert duration_s == pytest.approx(voice_s + 0.4, abs=0.1)
    assert frames >= round((voice_s + 0.4) * 30) - 3
    assert render_previews(db, store, narrated) == [], "made once per pair of takes"

    # A new voice take is a new pair: its own preview, the old one left as it was.
    with db.connect() as conn:
        assert start_new_narration_take(conn, narrated, "hook", {"text": "Dinner, decided."}) == 2
    store_take(db, store, SCRIPT, "hook", "narration", 2, make_voice(text="Dinner, decided."))
    with db.connect() as conn:
        previews = section_previews(conn, narrated)
    assert list(previews) == ["hook"] and previews["hook"].text == "Dinner, decided."
    assert render_previews(db, store, narrated) == [preview_key(narrated, "hook", 1, 2)]
    assert store.exists(key)


def test_a_voice_that_cannot_be_read_leaves_no_preview_and_fails_nothing(
    db: Database, narrated: str, tmp_path: Path, make_clip: ClipFactory
) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1/media")
    store_take(db, store, SCRIPT, "hook", "clip", 1, make_clip(width=320, height=240))
    broken = tmp_path / "voice.wav"
    broken.write_bytes(b"RIFF not really a wave")
    key = f"scripts/{SCRIPT}/hook/narration-v1.wav"
    store.put_file(key, broken)
    with db.connect() as conn:
        take_rows.record_take(
            conn, script_id=SCRIPT, section_id="hook", stage="narration", take=1, job_id=None,
            media_key=key, thumbnail_key=None, probe={}, duration_s=None,
        )  # fmt: skip
    assert render_previews(db, store, narrated) == []
    assert not store.exists(preview_key(narrated, "hook", 1, 1))
