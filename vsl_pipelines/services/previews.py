"""Section previews: a voiced section's clip with its voice, as the final video will play it.

A reviewer approves what they hear: the clip timed to the voice (held, slowed or looped as the
script says), the captions at the spoken phrases and the clip's own sound kept, lowered or
dropped, rendered by the same engine as the final video from the section alone (no soundtrack,
no transition: those belong to the whole video). One preview per pair of takes, under a key
naming both (`preview-c{clip}-n{narration}.mp4`), so a new clip or a new voice gets its own and
a page can tell from the key whether the preview it shows is the current one. The collecting
runs of clips and narrations render the ones missing; pages fall back to the clip and the voice
side by side until it is there.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.narration import spoken_text
from vsl_pipelines.domain.script import Script
from vsl_pipelines.logs import get_logger
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.services.compilation import section_picture
from vsl_pipelines.storage.base import MediaStore

log = get_logger(__name__)


@dataclass(frozen=True)
class SectionPreview:
    """A voiced section's current clip and narration takes and where their preview goes."""

    section_id: str
    clip_take: int
    narration_take: int
    clip_key: str  # what the section shows: its clip, or a voiced still's keyframe
    narration_key: str
    text: str
    key: str
    zoom: bool | None = None


def preview_key(script_id: str, section_id: str, clip_take: int, narration_take: int) -> str:
    return f"scripts/{script_id}/{section_id}/preview-c{clip_take}-n{narration_take}.mp4"


def section_previews(conn: Conn, script_id: str) -> dict[str, SectionPreview]:
    """Each voiced section whose current clip and narration takes are both stored."""
    script = script_rows.load_stored_script(conn, script_id)
    found = {}
    rows = script_rows.sections_of(conn, script_id)
    for row, section in zip(rows, script.sections, strict=True):
        if script.voice_of(section) is None:
            continue
        clip = take_rows.take_of(conn, script_id, row.id, "clip", row.current_take)
        voice = take_rows.take_of(conn, script_id, row.id, "narration", row.narration_take)
        if clip is None or voice is None:
            continue
        picture = section_picture(conn, script, row, voiced=True)
        found[row.id] = SectionPreview(
            section_id=row.id,
            clip_take=row.current_take,
            narration_take=row.narration_take,
            clip_key=picture.key if picture is not None else clip.media_key,
            narration_key=voice.media_key,
            text=spoken_text(row, section),
            key=preview_key(script_id, row.id, row.current_take, row.narration_take),
            zoom=picture.zoom if picture is not None else None,
        )
    return found


def render_previews(db: Database, store: MediaStore, script_id: str) -> list[str]:
    """Render the previews the current takes lack; return their keys. A section whose preview
    fails is logged and left to the side-by-side fallback: a preview never fails collection."""
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        wanted = [p for p in section_previews(conn, script_id).values() if not store.exists(p.key)]
    made = []
    for preview in wanted:
        try:
            render_preview(store, script, preview)
        except (MediaError, OSError) as exc:  # the pages fall back to clip and voice
            log.warning(
                "section preview failed",
                extra={
                    "script_id": script_id,
                    "section_id": preview.section_id,
                    "fields": {"error": str(exc)},
                },
            )
            continue
        made.append(preview.key)
    return made


def render_preview(store: MediaStore, script: Script, preview: SectionPreview) -> dict[str, Any]:
    """Compile the section alone with its voice into the store under `preview.key`."""
    from vsl_pipelines.media.compile import compile_video  # PyAV: collecting runs only
    from vsl_pipelines.media.options import ClipInput, CompileOptions

    output = script.output
    with tempfile.TemporaryDirectory(prefix="vsl-preview-") as tmp:
        out = Path(tmp) / "preview.mp4"
        result = compile_video(
            [
                ClipInput(
                    path=store.local_path(preview.clip_key),
                    zoom=preview.zoom,
                    narration=store.local_path(preview.narration_key),
                    caption=preview.text if output.captions else None,
                )
            ],
            out,
            CompileOptions(
                size=output.size,
                fps=output.fps,
                format="mp4",
                quality="draft",
                captions=output.captions,
                voice=output.timing,
                verify="quick",
            ),
        )
        store.put_file(preview.key, out)
    log.info(
        "section preview rendered",
        extra={
            "script_id": script.id,
            "section_id": preview.section_id,
            "fields": {"key": preview.key, "duration_s": round(result.duration_s, 3)},
        },
    )
    return {"key": preview.key, "duration_s": result.duration_s}
