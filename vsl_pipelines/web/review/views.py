"""What the review page shows, gathered from the services and tables: each waiting take (a
section's clip or its narration) with its script's title, the prompt and seed it was made from
or the words and voice it speaks, how a voiced section sounds, the note on the take before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.domain.narration import narration_voice, spoken_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.services.previews import section_previews
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.storage.base import MediaStore


@dataclass(frozen=True)
class Voice:
    """A voiced section's current voice: the words, the model and its parameters, and how to
    hear it with the clip (the rendered preview, else the take alone)."""

    text: str
    model: str
    params: dict[str, Any]
    choices: list[str]  # the model's voices, for a rejection's new voice
    speed: tuple[float | None, float | None]  # the model's bounds of `speed`
    audio_url: str | None
    preview_url: str | None
    clip_url: str | None  # the section's current clip, heard with the voice until the preview


@dataclass(frozen=True)
class WaitingTake:
    """A section's current take (its clip, or its narration) with no decision, with what the
    reviewer needs."""

    script_id: str
    title: str
    section_id: str
    subject: str  # "clip" or "narration"
    take: int
    narration: str
    prompt: str | None
    seed: int | None
    clip_url: str | None
    poster_url: str | None
    duration_s: float | None
    voice: Voice | None = None
    previous_note: str | None = None
    previous_reviewer: str | None = None  # who rejected the take before


@dataclass(frozen=True)
class ReviewPage:
    """The page: the takes waiting (of one script when `view_script`), a notice of the last
    decision."""

    takes: list[WaitingTake]
    view_script: str | None
    notice: str | None

    @property
    def heading(self) -> str:
        return f"Script {self.view_script}" if self.view_script else "All scripts"


def review_page(
    conn: Conn,
    store: MediaStore,
    view_script: str | None,
    done: str | None,
    registry: Registry | None = None,
    workspace_id: int | None = None,
) -> ReviewPage:
    """The page for `?script=` and `?done=` (ScriptNotFound for an unknown script), of every
    workspace or of one."""
    takes = waiting_takes(conn, store, view_script, registry, workspace_id)
    return ReviewPage(takes, view_script, done_notice(done))


def waiting_takes(
    conn: Conn,
    store: MediaStore,
    script_id: str | None = None,
    registry: Registry | None = None,
    workspace_id: int | None = None,
) -> list[WaitingTake]:
    """`review_queue` plus each script's title, the take's prompt and seed (a clip's) or its
    voice (a narration's), the note on the take before it; a voiced section's items carry how
    it sounds (`Voice`)."""
    queue = review_queue(conn, script_id, workspace_id=workspace_id)
    titles = {r.id: r.title for r in script_rows.list_scripts(conn, workspace_id)}
    queued_scripts = list(dict.fromkeys(item["script"] for item in queue))
    sections = {
        (sid, s.id): s for sid in queued_scripts for s in script_rows.sections_of(conn, sid)
    }
    decisions = {
        (sid, subject, section_id, take): row
        for sid in queued_scripts
        for subject in ("clip", "narration")
        for (section_id, take), row in approval_rows.latest_decisions(conn, sid, subject).items()
    }
    voices = {
        (sid, section_id): voice
        for sid in queued_scripts
        for section_id, voice in section_voices(conn, store, sid, registry).items()
    }
    takes = []
    for item in queue:
        section = sections[(item["script"], item["section"])]
        overrides = section.overrides or {}
        subject = item["subject"]
        previous = decisions.get((item["script"], subject, item["section"], item["take"] - 1))
        clip = subject == "clip"
        takes.append(
            WaitingTake(
                script_id=item["script"],
                title=titles.get(item["script"], ""),
                section_id=item["section"],
                subject=subject,
                take=item["take"],
                narration=item["narration"],
                prompt=(overrides.get("prompt") or section_prompt(section.spec)) if clip else None,
                seed=overrides.get("seed") if clip else None,
                clip_url=store.public_url(item["clip"]) if clip else None,
                poster_url=store.public_url(item["thumbnail"])
                if clip and item["thumbnail"]
                else None,
                duration_s=item["duration_s"],
                voice=voices.get((item["script"], item["section"])),
                previous_note=previous.note if previous else None,
                previous_reviewer=previous.reviewer if previous else None,
            )
        )
    return takes


def section_voices(
    conn: Conn, store: MediaStore, script_id: str, registry: Registry | None
) -> dict[str, Voice]:
    """Each voiced section's current voice and the way to hear it with its clip."""
    script = script_rows.load_stored_script(conn, script_id)
    previews = section_previews(conn, script_id)
    found = {}
    for row in script_rows.sections_of(conn, script_id):
        written = script.section(row.id)
        voice = script.voice_of(written)
        if voice is None:
            continue
        spoken = narration_voice(voice, row.narration_overrides)
        take = take_rows.take_of(conn, script_id, row.id, "narration", row.narration_take)
        clip = take_rows.take_of(conn, script_id, row.id, "clip", row.current_take)
        preview = previews.get(row.id)
        spec = registry.models.get(voice.model) if registry is not None else None
        limits = spec.constraints if spec is not None else {}
        speed = limits.get("speed")
        found[row.id] = Voice(
            text=spoken_text(row, written),
            model=voice.model,
            params=spoken.params,
            choices=list(limits["voice"].choices or []) if "voice" in limits else [],
            speed=(speed.min, speed.max) if speed is not None else (None, None),
            audio_url=store.public_url(take.media_key) if take else None,
            clip_url=store.public_url(clip.media_key) if clip else None,
            preview_url=store.public_url(preview.key)
            if preview is not None and store.exists(preview.key)
            else None,
        )
    return found


def section_prompt(spec: dict[str, Any]) -> str | None:
    """The prompt a section's picture starts from: its keyframe's, else its clip's."""
    for stage in ("keyframe", "clip"):
        generation = spec.get(stage) or {}
        if generation.get("prompt"):
            return str(generation["prompt"])
    return None


def done_notice(done: str | None) -> str | None:
    """`?done=approved:SCRIPT/SECTION` (set by the redirect after a decision) as a notice."""
    decision, _, target = (done or "").partition(":")
    if decision == "approved" and target:
        return f"Approved {target}."
    if decision == "rejected" and target:
        return f"Rejected {target}; a new take will be generated."
    return None
