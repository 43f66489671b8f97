"""What the studio's review queue shows (`/studio/review`): every take of the workspace waiting
for a decision, grouped by script and section, each section with one player (its preview of
clip and voice, else its clip with its voice beside), the prompt or words its rejection starts
from, what a retake costs and takes, and the earlier take with its rejection note; and a
script's whole sequence as it stands (its current takes in order) before it is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.approvals import ApprovalRow
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.review import ManualScript
from vsl_pipelines.db.script_activity import scripts_activity
from vsl_pipelines.db.scripts import SectionRow
from vsl_pipelines.db.takes import TakeRow
from vsl_pipelines.domain.narration import narration_voice, spoken_text
from vsl_pipelines.domain.registry import ModelSpec, Registry
from vsl_pipelines.domain.script import Script, Section
from vsl_pipelines.services.previews import preview_key
from vsl_pipelines.services.review import (
    RetakeEstimate,
    awaiting_compile,
    compiles_on_approval,
    retake_estimate,
    review_queue,
)
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.review.views import section_prompt
from vsl_pipelines.web.studio.forms import ParamInput, param_inputs
from vsl_pipelines.web.studio.status import generation_cron, status_line

Takes = dict[tuple[str, str, int], TakeRow]
Decided = dict[tuple[str, int], ApprovalRow]


@dataclass(frozen=True)
class EarlierTake:
    """The take before the one waiting: its media, and what the reviewer said of it."""

    number: int
    media_url: str | None
    poster_url: str | None
    decision: str | None
    note: str | None
    decided_by: str | None
    prompt: str | None = None  # a clip's: the prompt it was made from


@dataclass(frozen=True)
class WaitingClip:
    """A section's clip take waiting for a decision; `prompt` is what it was made from (a
    rejection's form starts from it), `seed` the variation a reviewer asked for, if any."""

    take: int
    duration_s: float | None
    prompt: str | None
    seed: int | None
    retake: RetakeEstimate | None
    earlier: EarlierTake | None


@dataclass(frozen=True)
class WaitingNarration:
    """A section's narration take waiting for a decision: the words, the voice and its
    parameters, the inputs a rejection may change (with their current values)."""

    take: int
    duration_s: float | None
    text: str
    model: str
    params: dict[str, Any]
    inputs: list[ParamInput]
    shown: dict[str, str]
    retake: RetakeEstimate | None
    earlier: EarlierTake | None


@dataclass(frozen=True)
class QueueItem:
    """A section with a take waiting: what plays (the preview of clip and voice once rendered,
    else the current clip with the current voice beside it) and what waits."""

    script_id: str
    section_id: str
    narration: str
    video_url: str | None
    poster_url: str | None
    audio_url: str | None
    as_it_sounds: bool  # the video is the preview: clip and voice as the video will play
    clip: WaitingClip | None
    voice: WaitingNarration | None

    @property
    def anchor(self) -> str:
        return f"item-{self.script_id}-{self.section_id}"

    @property
    def waiting(self) -> int:
        return (self.clip is not None) + (self.voice is not None)

    @property
    def token(self) -> str:
        """The section and the takes shown, as approving "the played ones" sends them."""
        clip = str(self.clip.take) if self.clip else "-"
        voice = str(self.voice.take) if self.voice else "-"
        return f"{self.script_id}/{self.section_id}/{clip}/{voice}"


@dataclass(frozen=True)
class QueueScript:
    id: str
    title: str
    status: str
    compile_on_approval: bool
    items: list[QueueItem]

    @property
    def waiting(self) -> int:
        return sum(item.waiting for item in self.items)


@dataclass(frozen=True)
class ReviewQueue:
    """The queue of a workspace (of one script with `view_script`), the scripts that wait for
    a person's "Compile", and a notice of the last action."""

    scripts: list[QueueScript]
    awaiting_compile: list[ManualScript]
    view_script: str | None
    notice: str | None
    active: bool = False  # something will change without a person: the page polls

    @property
    def waiting(self) -> int:
        return sum(script.waiting for script in self.scripts)

    @property
    def items(self) -> list[QueueItem]:
        return [item for script in self.scripts for item in script.items]

    def after(self, item: QueueItem) -> QueueItem | None:
        """Where the reviewer goes once `item` is decided: the next section, else the one
        before (the last of the queue was decided)."""
        items = self.items
        at = items.index(item)
        if at + 1 < len(items):
            return items[at + 1]
        return items[at - 1] if at > 0 else None


def review_queue_page(
    conn: Conn,
    store: MediaStore,
    registry: Registry,
    workspace_id: int,
    view_script: str | None = None,
    notice: str | None = None,
) -> ReviewQueue:
    """The queue for the workspace's scripts (ScriptNotFound for an unknown `view_script`; the
    caller has checked it is the workspace's)."""
    waiting: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for entry in review_queue(conn, view_script, workspace_id=workspace_id):
        sections = waiting.setdefault(entry["script"], {})
        sections.setdefault(entry["section"], {})[entry["subject"]] = entry
    scripts = [
        _queue_script(conn, store, registry, script_id, sections)
        for script_id, sections in waiting.items()
    ]
    return ReviewQueue(
        scripts=scripts,
        awaiting_compile=awaiting_compile(conn, workspace_id, view_script),
        view_script=view_script,
        notice=notice,
        active=queue_active(conn, workspace_id, view_script),
    )


def queue_active(conn: Conn, workspace_id: int, view_script: str | None = None) -> bool:
    """Whether a script of the queue (the workspace's, or `view_script`) will change without a
    person (generating, a retake on its way, compiling): what the scripts list polls for."""
    cron = generation_cron()
    return any(
        status_line(activity, cron).active
        for activity in scripts_activity(conn, workspace_id)
        if view_script is None or activity.id == view_script
    )


def _queue_script(
    conn: Conn,
    store: MediaStore,
    registry: Registry,
    script_id: str,
    waiting: dict[str, dict[str, dict[str, Any]]],
) -> QueueScript:
    row = script_rows.script_row(conn, script_id)
    script = script_rows.load_stored_script(conn, script_id)
    takes = {(t.section_id, t.stage, t.take): t for t in take_rows.takes_of(conn, script_id)}
    clips = approval_rows.latest_decisions(conn, script_id)
    voices = approval_rows.latest_decisions(conn, script_id, "narration")
    written = {s.id: s for s in script.sections}
    items = []
    for section in script_rows.sections_of(conn, script_id):
        subjects = waiting.get(section.id)
        if not subjects or section.id not in written:
            continue
        items.append(
            _queue_item(
                store, registry, script, section, written[section.id], subjects, takes,
                clips, voices,
            )
        )  # fmt: skip
    return QueueScript(
        id=script_id,
        title=row.title,
        status=row.status,
        compile_on_approval=compiles_on_approval(conn, script_id),
        items=items,
    )


def _queue_item(
    store: MediaStore,
    registry: Registry,
    script: Script,
    row: SectionRow,
    section: Section,
    subjects: dict[str, dict[str, Any]],
    takes: Takes,
    clips: Decided,
    voices: Decided,
) -> QueueItem:
    sid = row.id
    clip = takes.get((sid, "clip", row.current_take))
    voiced = script.voice_of(section) is not None
    narration = takes.get((sid, "narration", row.narration_take)) if voiced else None
    preview = None
    if clip is not None and narration is not None:
        key = preview_key(script.id, sid, row.current_take, row.narration_take)
        preview = key if store.exists(key) else None
    waiting_clip = None
    if "clip" in subjects and clip is not None:
        overrides = row.overrides or {}
        waiting_clip = WaitingClip(
            take=row.current_take,
            duration_s=clip.duration_s,
            prompt=overrides.get("prompt") or section_prompt(row.spec),
            seed=overrides.get("seed"),
            retake=retake_estimate(script, registry, row, "clip"),
            earlier=_earlier(store, row, "clip", row.current_take - 1, takes, clips),
        )
    waiting_voice = None
    if "narration" in subjects and narration is not None:
        waiting_voice = _waiting_narration(store, registry, script, row, section, takes, voices)
    return QueueItem(
        script_id=script.id,
        section_id=sid,
        narration=row.narration,
        video_url=store.public_url(preview or clip.media_key) if clip is not None else None,
        poster_url=store.public_url(clip.thumbnail_key)
        if clip is not None and clip.thumbnail_key
        else None,
        audio_url=store.public_url(narration.media_key)
        if narration is not None and preview is None
        else None,
        as_it_sounds=preview is not None,
        clip=waiting_clip,
        voice=waiting_voice,
    )


def _waiting_narration(
    store: MediaStore,
    registry: Registry,
    script: Script,
    row: SectionRow,
    section: Section,
    takes: Takes,
    voices: Decided,
) -> WaitingNarration:
    voice = script.voice_of(section)
    assert voice is not None
    spec = registry.models.get(voice.model)
    spoken = narration_voice(voice, row.narration_overrides)
    params = voice_params(spec, spoken.params)
    inputs = param_inputs(spec) if spec is not None else []
    audio = takes[(row.id, "narration", row.narration_take)]
    return WaitingNarration(
        take=row.narration_take,
        duration_s=audio.duration_s,
        text=spoken_text(row, section),
        model=voice.model,
        params=params,
        inputs=inputs,
        shown={p.name: _shown(params.get(p.name, p.default)) for p in inputs},
        retake=retake_estimate(script, registry, row, "narration"),
        earlier=_earlier(store, row, "narration", row.narration_take - 1, takes, voices),
    )


def voice_params(spec: ModelSpec | None, params: dict[str, Any]) -> dict[str, Any]:
    """A voice's parameters as it speaks: the model's defaults under the voice's own, in the
    registry's order (voice, then speed)."""
    if spec is None:
        return dict(params)
    merged = {
        k: v
        for k, v in spec.defaults.items()
        if k in spec.supported_params and k != spec.text_input
    }
    merged.update(params)
    order = {name: i for i, name in enumerate(spec.supported_params)}
    return dict(sorted(merged.items(), key=lambda item: order.get(item[0], len(order))))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _earlier(
    store: MediaStore, row: SectionRow, stage: str, number: int, takes: Takes, decided: Decided
) -> EarlierTake | None:
    if number < 1:
        return None
    media = takes.get((row.id, stage, number))
    decision = decided.get((row.id, number))
    before = decided.get((row.id, number - 1))  # the rejection that asked for it
    return EarlierTake(
        number=number,
        media_url=store.public_url(media.media_key) if media else None,
        poster_url=store.public_url(media.thumbnail_key)
        if media is not None and media.thumbnail_key
        else None,
        decision=decision.decision if decision else None,
        note=decision.note if decision else None,
        decided_by=decision.reviewer if decision else None,
        prompt=((before.prompt if before else None) or section_prompt(row.spec))
        if stage == "clip"
        else None,
    )


# The whole sequence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SequencePart:
    """A section as the sequence plays it: its current clip (or the preview of clip and voice)
    and, without a preview, its voice to play with it; `state` approved, waiting (for a
    decision) or coming (a take not stored yet)."""

    section_id: str
    words: str
    video_url: str | None
    poster_url: str | None
    audio_url: str | None
    duration_s: float | None
    state: str
    clip_take: int
    narration_take: int | None


@dataclass(frozen=True)
class Sequence:
    script_id: str
    title: str
    status: str
    compile_on_approval: bool
    awaiting_compile: bool  # every take approved, waiting for a person's "Compile"
    compile_in_flight: bool
    parts: list[SequencePart] = field(default_factory=list)

    @property
    def all_approved(self) -> bool:
        return bool(self.parts) and all(p.state == "approved" for p in self.parts)

    @property
    def playable(self) -> list[SequencePart]:
        return [p for p in self.parts if p.video_url or p.audio_url]


def sequence(conn: Conn, store: MediaStore, script_id: str, workspace_id: int) -> Sequence:
    """The script's current takes in order (ScriptNotFound for an unknown script)."""
    row = script_rows.script_row(conn, script_id)
    script = script_rows.load_stored_script(conn, script_id)
    takes = {(t.section_id, t.take): t for t in take_rows.takes_of(conn, script_id, "clip")}
    voices = {(t.section_id, t.take): t for t in take_rows.takes_of(conn, script_id, "narration")}
    decided = approval_rows.current_take_decisions(conn, script_id)
    written = {s.id: s for s in script.sections}
    parts = []
    for section in script_rows.sections_of(conn, script_id):
        spec = written.get(section.id)
        voiced = spec is not None and script.voice_of(spec) is not None
        clip = takes.get((section.id, section.current_take))
        voice = voices.get((section.id, section.narration_take)) if voiced else None
        preview = None
        if clip is not None and voice is not None:
            key = preview_key(script_id, section.id, section.current_take, section.narration_take)
            preview = key if store.exists(key) else None
        decision = decided.get(section.id)
        if clip is None or (voiced and voice is None):
            state = "coming"
        elif (
            decision is not None
            and decision.clip == "approved"
            and (not voiced or decision.narration == "approved")
        ):
            state = "approved"
        else:
            state = "waiting"
        durations = [t.duration_s for t in (clip, voice) if t is not None and t.duration_s]
        parts.append(
            SequencePart(
                section_id=section.id,
                words=spoken_text(section, spec)
                if voiced and spec is not None
                else section.narration,
                video_url=store.public_url(preview or clip.media_key) if clip else None,
                poster_url=store.public_url(clip.thumbnail_key)
                if clip is not None and clip.thumbnail_key
                else None,
                audio_url=store.public_url(voice.media_key) if voice and not preview else None,
                duration_s=max(durations) if durations else None,
                state=state,
                clip_take=section.current_take,
                narration_take=section.narration_take if voiced else None,
            )
        )
    return Sequence(
        script_id=script_id,
        title=row.title,
        status=row.status,
        compile_on_approval=compiles_on_approval(conn, script_id),
        awaiting_compile=bool(awaiting_compile(conn, workspace_id, script_id)),
        compile_in_flight=compilation_rows.in_flight(conn, script_id) is not None,
        parts=parts,
    )


# Notices ----------------------------------------------------------------------------------------

NOTICES = {
    "approved": "Approved {}.",
    "rejected": "Rejected {}: a new take is being made.",
    "played": "Approved {} played section(s).",
    "compile": "Asked to compile {}: the video appears on its page.",
    "auto": "{} compiles when its last take is approved.",
    "manual": "{} waits for your Compile once every take is approved.",
}


def notice(done: str | None) -> str | None:
    """`?done=KIND:WHAT` (set by the redirect after an action) as a sentence; None for
    anything else."""
    kind, _, what = (done or "").partition(":")
    template = NOTICES.get(kind)
    return template.format(what) if template and what else None
