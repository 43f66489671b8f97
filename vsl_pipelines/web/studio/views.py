"""What the studio's pages show, gathered from the tables and services: the scripts list with
progress and spend, and one script's sections (current take, history, generation status; for a
voiced section its narration take, words, voice and the preview of clip and voice together),
its compilations and whether the page should keep polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.approvals import ApprovalRow
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.jobs import RETRYABLE, JobRow
from vsl_pipelines.db.script_activity import script_activity, scripts_activity
from vsl_pipelines.db.scripts import SectionRow
from vsl_pipelines.db.takes import TakeRow
from vsl_pipelines.domain.narration import (
    merged_overrides,
    narration_voice,
    spoken_text,
    spoken_words,
)
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, Section, Voice
from vsl_pipelines.services.previews import preview_key
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.review.views import section_prompt
from vsl_pipelines.web.studio.forms import ParamInput, param_inputs
from vsl_pipelines.web.studio.recompile import RecompileForm, recompile_form
from vsl_pipelines.web.studio.status import StatusLine, generation_cron, status_line

STATUSES = ("queued", "generating", "review", "compiling", "compiled", "failed")
ACTIVE_JOBS = ("creating", "starting", "processing")


@dataclass(frozen=True)
class ScriptSummary:
    id: str
    title: str
    status: str
    error: str | None
    sections: int
    keyframes: tuple[int, int]  # (done, wanted) for the current takes
    clips: tuple[int, int]
    spent_usd: float
    budget_usd: float | None
    updated_at: datetime
    line: StatusLine | None = None  # what is happening to it now, in words


def script_list(
    conn: Conn, status: str | None, workspace_id: int | None = None
) -> list[ScriptSummary]:
    cron = generation_cron()
    lines = {a.id: status_line(a, cron) for a in scripts_activity(conn, workspace_id)}
    return [
        ScriptSummary(
            id=row.id,
            title=row.title,
            status=row.status,
            error=row.error,
            sections=row.sections,
            keyframes=(row.keyframes_done, row.keyframes),
            clips=(row.clips_done, row.sections),
            spent_usd=float(row.spent_usd),
            budget_usd=float(row.budget_usd) if row.budget_usd is not None else None,
            updated_at=row.updated_at,
            line=lines.get(row.id),
        )
        for row in script_rows.script_summaries(conn, workspace_id)
        if status is None or row.status == status
    ]


@dataclass(frozen=True)
class Take:
    """One take of a section: its media, what made it and what the reviewer said."""

    number: int
    clip_url: str | None
    poster_url: str | None
    keyframe_url: str | None
    duration_s: float | None
    prompt: str | None
    seed: int | None
    decision: str | None
    note: str | None
    decided_by: str | None  # who decided: a person's email, a key's name


@dataclass(frozen=True)
class JobLine:
    stage: str
    status: str
    attempt: int
    model: str
    error: str | None


@dataclass(frozen=True)
class NarrationTake:
    """One narration take of a voiced section: its audio, the words it speaks, the voice that
    spoke them and what the reviewer said."""

    number: int
    audio_url: str | None
    duration_s: float | None
    text: str
    model: str
    params: dict[str, Any]
    decision: str | None
    note: str | None
    decided_by: str | None  # who decided: a person's email, a key's name


@dataclass(frozen=True)
class VoiceView:
    """A voiced section's narration: the take under review, earlier ones, its jobs, the
    preview of the current clip with the current voice (None until rendered) and the voice
    parameters a rejection may change (the model's registry inputs)."""

    current: NarrationTake
    history: list[NarrationTake]
    jobs: list[JobLine]
    preview_url: str | None
    inputs: list[ParamInput]

    @property
    def waiting(self) -> bool:
        """Its current take is stored and undecided: the reviewer's turn."""
        return self.current.audio_url is not None and self.current.decision is None

    def shown(self, name: str) -> str:
        """A voice parameter's current value as its input shows it ('' when none)."""
        value = self.current.params.get(name)
        if value is None:
            value = next((p.default for p in self.inputs if p.name == name), "")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


@dataclass(frozen=True)
class SectionView:
    id: str
    narration: str
    current: Take
    history: list[Take]
    jobs: list[JobLine]
    voice: VoiceView | None = None

    @property
    def waiting(self) -> bool:
        """Its current take has a clip and no decision: the reviewer's turn."""
        return self.current.clip_url is not None and self.current.decision is None

    @property
    def approved(self) -> bool:
        """Its clip approved and, when voiced, its narration too."""
        return self.current.decision == "approved" and (
            self.voice is None or self.voice.current.decision == "approved"
        )

    @property
    def pending(self) -> bool:
        """A take is due without the reviewer: a clip or narration not stored yet, or one
        rejected whose next take has not started."""
        if self.current.decision == "rejected" or self.current.clip_url is None:
            return True
        return self.voice is not None and (
            self.voice.current.decision == "rejected" or self.voice.current.audio_url is None
        )


@dataclass(frozen=True)
class CompilationView:
    id: int
    status: str
    video_url: str | None
    poster_url: str | None
    duration_s: float | None
    output_format: str
    quality: str
    options: dict[str, Any]
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class CostLine:
    """One prediction of the script with what it was estimated at and what it cost: a first
    take, a retake (take 2 and after) or a failed attempt (failed, canceled, expired). A
    prediction never created costs nothing; `actual_usd` is None while one runs."""

    section: str  # "" for the soundtrack
    stage: str
    take: int
    attempt: int
    model: str
    status: str
    kind: str  # take | retake | failed
    estimated_usd: float
    actual_usd: float | None
    source: str  # billed | estimated (Replicate's figures missing) | not created | running


@dataclass(frozen=True)
class CostTotal:
    """A group of cost lines summed: the estimates of the predictions created, the actual
    cost of those that ended, and how many are still running (no actual cost yet)."""

    label: str
    lines: int
    estimated_usd: float
    actual_usd: float
    running: int


def cost_lines(jobs: list[JobRow], order: dict[str, int]) -> list[CostLine]:
    """Every job of a script as a cost line, in section order (`order`: section -> position,
    the soundtrack first), then stage, take and attempt."""
    lines = []
    for job in jobs:
        never_created = job.prediction_id is None and job.status in RETRYABLE
        if never_created:
            actual: float | None = 0.0
            source = "not created"
        elif job.actual_cost_usd is not None:
            actual, source = float(job.actual_cost_usd), job.cost_source or "estimated"
        else:
            actual, source = None, "running"
        kind = "failed" if job.status in RETRYABLE else "retake" if job.take > 1 else "take"
        lines.append(
            CostLine(
                section=job.section_id,
                stage=job.stage,
                take=job.take,
                attempt=job.attempt,
                model=job.model_id,
                status=job.status,
                kind=kind,
                estimated_usd=0.0 if never_created else float(job.estimated_cost_usd),
                actual_usd=actual,
                source=source,
            )
        )
    stages = {"keyframe": 0, "clip": 1, "narration": 2, "soundtrack": 3}
    return sorted(
        lines,
        key=lambda c: (order.get(c.section, -1), stages.get(c.stage, 9), c.take, c.attempt),
    )


def cost_totals(lines: list[CostLine]) -> list[CostTotal]:
    """First takes, retakes, failed attempts, then every line."""

    def total(label: str, group: list[CostLine]) -> CostTotal:
        return CostTotal(
            label=label,
            lines=len(group),
            estimated_usd=round(sum(c.estimated_usd for c in group), 6),
            actual_usd=round(sum(c.actual_usd or 0.0 for c in group), 6),
            running=sum(1 for c in group if c.actual_usd is None),
        )

    groups = [
        ("First takes", [c for c in lines if c.kind == "take"]),
        ("Retakes", [c for c in lines if c.kind == "retake"]),
        ("Failed predictions", [c for c in lines if c.kind == "failed"]),
    ]
    return [total(label, group) for label, group in groups if group] + [total("Total", lines)]


@dataclass
class ScriptPage:
    id: str
    title: str
    status: str
    error: str | None
    budget_usd: float | None
    spent_usd: float
    output: dict[str, Any]
    sections: list[SectionView] = field(default_factory=list)
    compilations: list[CompilationView] = field(default_factory=list)
    recompile: RecompileForm | None = None  # the "Compile again" form's starting choices
    costs: list[CostLine] = field(default_factory=list)
    cost_totals: list[CostTotal] = field(default_factory=list)
    line: StatusLine | None = None  # what is happening to it now, in words

    @property
    def all_approved(self) -> bool:
        return all(s.approved for s in self.sections)

    @property
    def compile_in_flight(self) -> bool:
        return any(c.status in ("requested", "running") for c in self.compilations)

    @property
    def busy(self) -> bool:
        """Something will change without the user: generation, a retake, a compile."""
        if self.status == "failed":
            return False
        if self.line is not None and self.line.active:
            return True
        if self.status in ("queued", "generating", "compiling") or self.compile_in_flight:
            return True
        if any(s.pending for s in self.sections):
            return True
        # Everything approved: the automatic compile request is a sensor tick away.
        return self.all_approved and not self.compilations

    @property
    def final_note(self) -> str | None:
        """What the Final video card says of what the video waits for (None: nothing)."""
        pending = self.line.pending_decisions if self.line else 0
        retakes = self.line.retakes if self.line else []
        if self.status == "failed":
            return (
                "Generation failed (see above): retry it; the video compiles once every take"
                " is approved."
            )
        if retakes:
            return (
                f"A retake of {', '.join(retakes)} is on its way: review it, then the video"
                " compiles."
            )
        if pending:
            waiting = f"{pending} decision{'' if pending == 1 else 's'} waiting"
            return (
                "Approve every section's take (and its narration, when voiced) to compile:"
                f" {waiting}."
            )
        if any(s.pending for s in self.sections):
            return "Takes are still being generated; the video compiles once every one is approved."
        if self.all_approved and not self.compilations:
            return "Every take is approved: the compile starts in a moment."
        return None


def script_page(
    conn: Conn, store: MediaStore, script_id: str, registry: Registry | None = None
) -> ScriptPage:
    """One script as its page shows it (ScriptNotFound for an unknown id); `registry` gives a
    voice's parameter inputs (none without it)."""
    row = script_rows.script_row(conn, script_id)
    script = script_rows.load_stored_script(conn, script_id)
    jobs = job_rows.all_jobs(conn, script_id)
    takes = {(t.section_id, t.stage, t.take): t for t in take_rows.takes_of(conn, script_id)}
    decisions = approval_rows.latest_decisions(conn, script_id)
    spoken = approval_rows.latest_decisions(conn, script_id, "narration")
    page = ScriptPage(
        id=script_id,
        title=row.title,
        status=row.status,
        error=row.error,
        budget_usd=float(row.budget_usd) if row.budget_usd is not None else None,
        spent_usd=round(job_rows.committed_cost_usd(jobs), 4),
        output=script.output.model_dump(exclude_none=True),
    )
    written = {s.id: s for s in script.sections}
    for section in script_rows.sections_of(conn, script_id):
        sid = section.id
        first_prompt = section_prompt(section.spec)

        def take(number: int, sid: str = sid, first_prompt: str | None = first_prompt) -> Take:
            clip = takes.get((sid, "clip", number))
            keyframe = takes.get((sid, "keyframe", number))
            decision = decisions.get((sid, number))
            earlier = decisions.get((sid, number - 1))  # the rejection that asked for it
            return Take(
                number=number,
                clip_url=store.public_url(clip.media_key) if clip else None,
                poster_url=store.public_url(clip.thumbnail_key)
                if clip and clip.thumbnail_key
                else None,
                keyframe_url=store.public_url(keyframe.media_key) if keyframe else None,
                duration_s=clip.duration_s if clip else None,
                prompt=(earlier.prompt if earlier else None) or first_prompt,
                seed=earlier.seed if earlier else None,
                decision=decision.decision if decision else None,
                note=decision.note if decision else None,
                decided_by=decision.reviewer if decision else None,
            )

        current = section.current_take
        latest: dict[str, JobRow] = {}
        for job in jobs:
            if job.section_id == sid and job.stage != "narration" and job.take == current:
                latest[job.stage] = job
        script_section = written.get(sid)
        voice = script.voice_of(script_section) if script_section is not None else None
        page.sections.append(
            SectionView(
                id=sid,
                narration=section.narration,
                current=take(current),
                history=[take(n) for n in range(current - 1, 0, -1)],
                jobs=[
                    JobLine(j.stage, j.status, j.attempt, j.model_id, j.error)
                    for j in latest.values()
                ],
                voice=_voice_view(
                    store,
                    registry,
                    script,
                    section,
                    script_section,
                    voice,
                    takes,
                    spoken,
                    [j for j in jobs if j.section_id == sid and j.stage == "narration"],
                )
                if script_section is not None and voice is not None
                else None,
            )
        )
    for compilation in compilation_rows.compilations_of(conn, script_id):
        key = compilation.output_key if compilation.status == "succeeded" else None
        # The poster the compile stored (its key in the plan's delivery files), if any.
        delivery = (compilation.plan or {}).get("delivery") or {} if key else {}
        poster = delivery.get("poster") if isinstance(delivery, dict) else None
        page.compilations.append(
            CompilationView(
                id=compilation.id,
                status=compilation.status,
                video_url=store.public_url(key) if key else None,
                poster_url=store.public_url(poster) if poster else None,
                duration_s=compilation.duration_s,
                output_format=compilation.output_format,
                quality=compilation.quality,
                options=compilation.options or {},
                error=compilation.error,
                created_at=compilation.created_at,
            )
        )
    last = page.compilations[0].quality if page.compilations else None
    page.recompile = recompile_form(script.output, last)
    page.costs = cost_lines(jobs, {s.id: i for i, s in enumerate(script.sections)})
    activity = script_activity(conn, script_id)
    if activity is not None:
        page.line = status_line(activity, generation_cron())
    page.cost_totals = cost_totals(page.costs)
    return page


def _voice_view(
    store: MediaStore,
    registry: Registry | None,
    script: Script,
    row: SectionRow,
    section: Section,
    voice: Voice,
    takes: dict[tuple[str, str, int], TakeRow],
    decisions: dict[tuple[str, int], ApprovalRow],
    jobs: list[JobRow],
) -> VoiceView:
    """A voiced section's narration takes. An earlier take's words and voice are those its
    job was sent (else replayed from the rejections before it, as `apply_rejection` merges
    them); the current take's are the section's overrides."""
    sid = row.id
    current = int(row.narration_take)
    spec = registry.models.get(voice.model) if registry is not None else None
    text_input = spec.text_input if spec is not None else None
    sent = {j.take: j.input for j in jobs if j.status == "succeeded"}
    # What the voice speaks with where neither the script nor a reviewer says.
    defaults: dict[str, Any] = {}
    if spec is not None:
        defaults = {
            k: v for k, v in spec.defaults.items() if k in spec.supported_params and k != text_input
        }
    overrides: dict[str, Any] = {}
    history = []
    for number in range(1, current + 1):
        decision = decisions.get((sid, number))
        if number == current:
            overrides = row.narration_overrides or {}
        spoke = narration_voice(voice, overrides)
        text = spoken_text(row, section) if number == current else spoken_words(section, overrides)
        params = {**defaults, **spoke.params}
        given = sent.get(number)
        if number < current and isinstance(given, dict):
            if text_input and isinstance(given.get(text_input), str):
                text = given[text_input]
            params = {k: v for k, v in given.items() if k != text_input}
        if spec is not None:  # in the registry's order: voice, then speed
            order = {name: i for i, name in enumerate(spec.supported_params)}
            params = dict(sorted(params.items(), key=lambda item: order.get(item[0], len(order))))
        audio = takes.get((sid, "narration", number))
        history.append(
            NarrationTake(
                number=number,
                audio_url=store.public_url(audio.media_key) if audio else None,
                duration_s=audio.duration_s if audio else None,
                text=text,
                model=voice.model,
                params=params,
                decision=decision.decision if decision else None,
                note=decision.note if decision else None,
                decided_by=decision.reviewer if decision else None,
            )
        )
        if decision is not None and decision.decision == "rejected":
            overrides = merged_overrides(overrides, decision.params, decision.text)
    clip_take = int(row.current_take)
    preview_url = None
    if (sid, "clip", clip_take) in takes and (sid, "narration", current) in takes:
        key = preview_key(script.id, sid, clip_take, current)
        if store.exists(key):
            preview_url = store.public_url(key)
    latest: dict[str, JobRow] = {}
    for job in jobs:
        if job.take == current:
            latest[job.stage] = job
    return VoiceView(
        current=history[-1],
        history=history[-2::-1],
        jobs=[JobLine(j.stage, j.status, j.attempt, j.model_id, j.error) for j in latest.values()],
        preview_url=preview_url,
        inputs=param_inputs(spec) if spec is not None else [],
    )
