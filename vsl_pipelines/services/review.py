"""Reviewing section takes: approve, or reject with a new prompt or seed (a clip) or corrected
words and voice parameters (a narration); what is left to review.

A voiced section's clip and narration are decided on their own: each has its take, and a
rejection of one regenerates only it. Every decision is appended to the approval log; the
approval sensor acts on it: a rejection starts the next take, a script's last approval its compile
request (unless the script waits for a person's "Compile"). The studio's review queue reads
what waits and what a retake would cost here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import audit
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import review as review_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.approvals import ApprovalRow
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import SectionRow
from vsl_pipelines.domain.narration import check_overrides, merged_overrides, spoken_text
from vsl_pipelines.domain.registry import Registry, RegistryError, default_registry
from vsl_pipelines.domain.script import Script, Section, Voice
from vsl_pipelines.generation.stages import SectionState, plan_stage

SUBJECTS = ("clip", "narration")


class ReviewError(ValueError):
    pass


class AlreadyDecided(ReviewError):
    """The take already has its decision, or is no longer the take under review (409)."""


class UnknownTake(ReviewError):
    """No section clip or narration has this take id (404)."""


def _section(conn: Conn, script_id: str, section_id: str) -> SectionRow:
    script_rows.script_row(conn, script_id)
    sections = {s.id: s for s in script_rows.sections_of(conn, script_id)}
    if section_id not in sections:
        raise ReviewError(
            f"script {script_id!r} has no section {section_id!r}; sections: {', '.join(sections)}"
        )
    return sections[section_id]


def _voice(script: Script, section_id: str) -> tuple[Section, Voice]:
    section = script.section(section_id)
    voice = script.voice_of(section)
    if voice is None:
        raise ReviewError(
            f"section {script.id}/{section_id} has no voice, so no narration to decide"
            " (give the script or the section a `voice:`)"
        )
    return section, voice


def _current_take(
    conn: Conn, script_id: str, section_id: str, subject: str, seen: int | None
) -> int:
    """The take of `subject` under review, once stored; AlreadyDecided when the reviewer saw
    another one (`seen`), ReviewError while it is not stored yet."""
    row = _section(conn, script_id, section_id)
    if subject == "narration":
        _voice(script_rows.load_stored_script(conn, script_id), section_id)
    current = row.narration_take if subject == "narration" else row.current_take
    what = "narration take" if subject == "narration" else "take"
    if seen is not None and seen != current:
        raise AlreadyDecided(
            f"{what} {seen} of {script_id}/{section_id} is no longer under review"
            f" (the current {what} is {current})"
        )
    if take_rows.take_of(conn, script_id, section_id, subject, current) is None:
        raise ReviewError(
            f"section {script_id}/{section_id} has no {subject} for take {current} yet;"
            " nothing to review"
        )
    return current


def _check_fields(
    subject: str,
    decision: str,
    prompt: str | None,
    seed: int | None,
    params: dict[str, Any] | None,
    text: str | None,
) -> None:
    """Refuse the fields that do not belong to this decision, by name."""
    if decision not in ("approved", "rejected"):
        raise ReviewError(f"decision must be approved or rejected, not {decision!r}")
    if subject not in SUBJECTS:
        raise ReviewError(f"subject must be clip or narration, not {subject!r}")
    if decision == "approved" and (prompt is not None or seed is not None):
        raise ReviewError("--prompt and --seed belong to a rejection (they shape the next take)")
    if decision == "approved" and (params is not None or text is not None):
        raise ReviewError(
            "text and params belong to a narration rejection (they shape the next narration take)"
        )
    if subject == "narration" and (prompt is not None or seed is not None):
        raise ReviewError(
            "prompt and seed shape a clip's next take; a narration rejection takes text and params"
        )
    if subject == "clip" and (params is not None or text is not None):
        raise ReviewError(
            "text and params belong to a narration rejection (subject narration, --narration)"
        )
    if seed is not None and not 0 <= seed < 2**31:
        raise ReviewError(f"seed {seed} is out of range (0 to 2147483647)")


def _check_narration_overrides(
    conn: Conn,
    script_id: str,
    section_id: str,
    params: dict[str, Any] | None,
    text: str | None,
    registry: Registry | None,
) -> None:
    """The next narration take's voice and words, checked against the registry now, so a
    bad correction is refused before anything is stored (problems name `text`, `params.X`)."""
    if params is None and text is None:
        return
    script = script_rows.load_stored_script(conn, script_id)
    section, voice = _voice(script, section_id)
    row = _section(conn, script_id, section_id)
    overrides = merged_overrides(row.narration_overrides, params, text)
    found = check_overrides(registry or default_registry(), voice, section, overrides)
    if found:
        raise ReviewError(
            "; ".join(f"{'.'.join(str(p) for p in path) or 'voice'}: {msg}" for path, msg in found)
        )


def decide(
    conn: Conn,
    script_id: str,
    section_id: str,
    decision: str,
    *,
    subject: str = "clip",
    note: str | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    text: str | None = None,
    reviewer: str | None = None,
    take: int | None = None,
    registry: Registry | None = None,
) -> ApprovalRow:
    """Record the decision on the section's current clip take, or (`subject="narration"`) its
    current narration take (`take`, when given, is the one the reviewer saw). A clip rejection
    takes `prompt`/`seed`, a narration rejection `params` (voice parameters over the voice's)
    and `text` (corrected words), checked against the registry here. A take gets one decision:
    another one, even a concurrent one, raises AlreadyDecided and changes nothing."""
    _check_fields(subject, decision, prompt, seed, params, text)
    current = _current_take(conn, script_id, section_id, subject, take)
    what = "narration take" if subject == "narration" else "take"
    if subject == "narration":
        _check_narration_overrides(conn, script_id, section_id, params, text, registry)
    row = approval_rows.append_decision(
        conn,
        script_id=script_id,
        section_id=section_id,
        take=current,
        decision=decision,
        note=note,
        prompt=prompt,
        seed=seed,
        reviewer=reviewer,
        subject=subject,
        params=params,
        text=text,
    )
    if row is None:
        earlier = approval_rows.decision_on(conn, script_id, section_id, current, subject)
        verdict = earlier.decision if earlier else "decided"
        raise AlreadyDecided(
            f"{what} {current} of {script_id}/{section_id} is already {verdict}; a take gets one"
            " decision (a rejection starts the next take)"
        )
    workspace_id = script_rows.script_workspace(conn, script_id)
    if workspace_id is not None:
        audit.record(
            conn,
            workspace_id,
            reviewer or "unknown",
            f"decision.{decision}",
            f"script:{script_id}/{section_id}",
            {"subject": subject, "take": current, "approval_id": row.id},
        )
    return row


def decide_take(
    conn: Conn,
    take_id: int,
    decision: str,
    *,
    subject: str | None = None,
    note: str | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    text: str | None = None,
    reviewer: str | None = None,
    registry: Registry | None = None,
) -> ApprovalRow:
    """`decide` addressed by a clip or narration take's id (the original API's section video
    id); the subject is the take's stage (a `subject` given must match it)."""
    row = take_rows.take_by_id(conn, take_id)
    if row is None or row.stage not in SUBJECTS or row.script_id is None:
        raise UnknownTake(f"section video {take_id} does not exist")
    stage = row.stage
    if subject is not None and subject != stage:
        raise ReviewError(f"subject: take {take_id} is a {stage} take, not a {subject} take")
    script_id, section_id, take = row.script_id, row.section_id, row.take
    current = {
        s.id: s.narration_take if stage == "narration" else s.current_take
        for s in script_rows.sections_of(conn, script_id)
    }
    if current.get(section_id) != take:
        raise AlreadyDecided(
            f"section video {take_id} ({stage} take {take} of {script_id}/{section_id}) is no"
            f" longer under review (the current take is {current.get(section_id)})"
        )
    return decide(
        conn,
        script_id,
        section_id,
        decision,
        subject=stage,
        note=note,
        prompt=prompt,
        seed=seed,
        params=params,
        text=text,
        reviewer=reviewer,
        take=take,
        registry=registry,
    )


def review_queue(
    conn: Conn, script_id: str | None = None, *, workspace_id: int | None = None
) -> list[dict[str, Any]]:
    """Takes waiting for a decision: each section's current clip take, and its current
    narration take (voiced sections), once stored and while undecided. Every item has its
    `subject` ("clip" or "narration"), `take`, `media` (the take's media key) and `duration_s`;
    clip items also `clip` and `thumbnail`, narration items the words spoken (`spoken_text`).
    Without a script, every script's (or a workspace's)."""
    if script_id:
        script_rows.script_row(conn, script_id)  # an unknown script is an error, not an empty list
    scripts = [script_id] if script_id else script_rows.script_ids(conn, workspace_id=workspace_id)
    queue = []
    for sid in scripts:
        decisions = approval_rows.latest_decisions(conn, sid)
        spoken = approval_rows.latest_decisions(conn, sid, "narration")
        clips = {(t.section_id, t.take): t for t in take_rows.takes_of(conn, sid, "clip")}
        narrations = {(t.section_id, t.take): t for t in take_rows.takes_of(conn, sid, "narration")}
        script = script_rows.load_stored_script(conn, sid) if narrations else None
        for section in script_rows.sections_of(conn, sid):
            key = (section.id, section.current_take)
            if key in clips and key not in decisions:
                clip = clips[key]
                queue.append(
                    {
                        "script": sid,
                        "section": section.id,
                        "subject": "clip",
                        "take": key[1],
                        "media": clip.media_key,
                        "clip": clip.media_key,
                        "thumbnail": clip.thumbnail_key,
                        "duration_s": clip.duration_s,
                        "narration": section.narration,
                    }
                )
            key = (section.id, section.narration_take)
            if script is not None and key in narrations and key not in spoken:
                written = script.section(section.id)
                if script.voice_of(written) is None:
                    continue  # a voice since removed from the script: nothing to decide
                narration = narrations[key]
                queue.append(
                    {
                        "script": sid,
                        "section": section.id,
                        "subject": "narration",
                        "take": key[1],
                        "media": narration.media_key,
                        "duration_s": narration.duration_s,
                        "narration": section.narration,
                        "spoken_text": spoken_text(section, written),
                    }
                )
    return queue


def unapproved_sections(conn: Conn, script_id: str) -> list[str]:
    """What is not approved yet (empty: the script may compile): each section whose current
    clip take is not approved (`"hook"`), and each voiced section whose current narration take
    is not (`"hook (narration)"`)."""
    decisions = approval_rows.current_take_decisions(conn, script_id)  # one statement
    missing = []
    for section, decided in decisions.items():
        if decided.clip != "approved":
            missing.append(section)
        if decided.voiced and decided.narration != "approved":
            missing.append(f"{section} (narration)")
    return missing


def apply_rejection(conn: Conn, decision: ApprovalRow) -> int | None:
    """Start the next take for a rejected current take (of the clip: the section's take with
    the prompt/seed; of the narration: its narration take with the corrections); None if the
    take was already superseded."""
    sections = {s.id: s for s in script_rows.sections_of(conn, decision.script_id)}
    section = sections.get(decision.section_id)
    if decision.subject == "narration":
        if section is None or section.narration_take != decision.take:
            return None
        overrides = merged_overrides(section.narration_overrides, decision.params, decision.text)
        return script_rows.start_new_narration_take(
            conn, decision.script_id, decision.section_id, overrides
        )
    if section is None or section.current_take != decision.take:
        return None
    retake = {"prompt": decision.prompt, "seed": decision.seed}
    overrides = {k: v for k, v in retake.items() if v is not None}
    return script_rows.start_new_take(conn, decision.script_id, decision.section_id, overrides)


@dataclass(frozen=True)
class Retake:
    """A rejection that started a new take: generation is due for it."""

    approval_id: int
    script_id: str
    section_id: str
    take: int
    subject: str = "clip"  # what was rejected: the clip, or the narration alone

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages the new take generates."""
        return ("narration",) if self.subject == "narration" else ("keyframe", "clip")


@dataclass
class Decisions:
    """What a batch of decisions asks for: retakes, and scripts now fully approved (with the
    last approval read for each; each got its compile request unless one was in flight, or
    waits for a person's "Compile": `awaiting_compile`), and the cursor after the batch."""

    cursor: int
    retakes: list[Retake] = field(default_factory=list)
    ready_to_compile: dict[str, int] = field(default_factory=dict)
    awaiting_compile: list[str] = field(default_factory=list)


def act_on_decisions(conn: Conn, cursor: int, batch: int) -> Decisions:
    """Act on up to `batch` decisions after `cursor`: start the retakes, find the scripts that
    may compile (one per script, however many approvals the batch holds) and record their
    compile request, with the script's own output options: the compile sensor launches it. A
    script set to wait for a person's "Compile" (its review settings) gets no request."""
    approved: dict[str, int] = {}
    rows = approval_rows.decisions_after(conn, cursor, batch)
    result = Decisions(cursor=rows[-1].id if rows else cursor)
    for decision in rows:
        script_id = decision.script_id
        if decision.decision == "rejected":
            take = apply_rejection(conn, decision)
            if take is not None:
                script_rows.set_status(conn, script_id, "generating")
                result.retakes.append(
                    Retake(decision.id, script_id, decision.section_id, take, decision.subject)
                )
        else:
            approved[script_id] = decision.id
    for script_id, approval_id in approved.items():
        if unapproved_sections(conn, script_id):
            continue
        if not review_rows.compile_on_approval(conn, script_id):
            result.awaiting_compile.append(script_id)
        else:
            result.ready_to_compile[script_id] = approval_id
            output = script_rows.load_stored_script(conn, script_id).output
            compilation_rows.request_compilation(
                conn,
                script_id,
                output_format=output.format,
                quality="standard",
                options={},
                requested_by="approval",
                approval_id=approval_id,
            )
    return result


@dataclass(frozen=True)
class Review:
    """Follows reviewers' decisions, as the approval sensor does: retakes and compile
    requests, one batch of the decision log per call."""

    db: Database

    def act_after(self, cursor: int, batch: int) -> Decisions:
        """`act_on_decisions` in one transaction: a batch is acted on whole or not at all."""
        with self.db.connect() as conn:
            return act_on_decisions(conn, cursor, batch)


def approve_section(
    conn: Conn,
    script_id: str,
    section_id: str,
    takes: Mapping[str, int],
    *,
    note: str | None = None,
    reviewer: str | None = None,
) -> list[ApprovalRow]:
    """Approve the section's current takes the reviewer saw, by subject (`{"clip": 2,
    "narration": 1}`: a voiced section's clip and narration with one action), in the caller's
    transaction: when one is refused (AlreadyDecided, a newer take) the caller's rollback
    leaves neither approved."""
    if not takes:
        raise ReviewError("nothing to approve: name the clip take, the narration take or both")
    return [
        decide(
            conn,
            script_id,
            section_id,
            "approved",
            subject=subject,
            note=note,
            reviewer=reviewer,
            take=take,
        )
        for subject, take in sorted(takes.items())
    ]


@dataclass(frozen=True)
class RetakeEstimate:
    """What a rejection's next take costs (the registry's estimates of its predictions) and
    about how long its predictions take, one after the other (their `estimatedTime`)."""

    usd: float
    seconds: float


def retake_estimate(
    script: Script, registry: Registry, row: SectionRow, subject: str
) -> RetakeEstimate | None:
    """The next take of the section's clip (its keyframe and clip predictions) or narration,
    planned as a rejection without new words would plan it; None when nothing would be
    generated (or a model has left the registry)."""
    state = SectionState(
        take=row.current_take + 1,
        overrides=dict(row.overrides or {}),
        narration_take=row.narration_take + 1,
        narration_overrides=dict(row.narration_overrides or {}),
    )
    stages = ("narration",) if subject == "narration" else ("keyframe", "clip")
    try:
        jobs = [
            job
            for stage in stages
            for job in plan_stage(script, registry, stage, {row.id: state})
            if job.section_id == row.id
        ]
    except RegistryError:
        return None
    if not jobs:
        return None
    return RetakeEstimate(
        usd=round(sum(job.estimated_cost_usd for job in jobs), 6),
        seconds=sum(job.spec.expected_seconds(job.model_input) for job in jobs),
    )


def waiting_decisions(conn: Conn, workspace_id: int) -> int:
    """How many takes of the workspace wait for a decision (the studio's badge)."""
    return review_rows.waiting_decisions(conn, workspace_id)


def compiles_on_approval(conn: Conn, script_id: str) -> bool:
    """Whether the script compiles on its last approval (else it waits for a person)."""
    return review_rows.compile_on_approval(conn, script_id)


def set_compile_on_approval(conn: Conn, script_id: str, on: bool, actor: str) -> None:
    """Compile the script on its last approval (`on`), or wait for a person's "Compile";
    recorded in the audit log."""
    script_rows.script_row(conn, script_id)  # ScriptNotFound for an unknown script
    review_rows.set_compile_on_approval(conn, script_id, on, actor)
    workspace_id = script_rows.script_workspace(conn, script_id)
    if workspace_id is not None:
        audit.record(
            conn,
            workspace_id,
            actor,
            "review.compile_on_approval",
            f"script:{script_id}",
            {"on": on},
        )


def awaiting_compile(
    conn: Conn, workspace_id: int, script_id: str | None = None
) -> list[review_rows.ManualScript]:
    """The workspace's scripts (or one) that wait for a person's "Compile": set so, every take
    approved, and no compile asked for since the last decision."""
    return [
        script
        for script in review_rows.manual_scripts(conn, workspace_id, script_id)
        if script.decided_at is not None
        and (script.compile_requested_at is None or script.compile_requested_at < script.decided_at)
        and not unapproved_sections(conn, script.id)
    ]
