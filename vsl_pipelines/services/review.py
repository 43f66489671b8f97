"""Reviewing section takes: approve, or reject with a new prompt or seed; what is left to review.

Every decision is appended to the approval log; the approval sensor acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn, connect


class ReviewError(ValueError):
    pass


class AlreadyDecided(ReviewError):
    """The take already has its decision, or is no longer the take under review (409)."""


class UnknownTake(ReviewError):
    """No section clip has this take id (404)."""


def _current_clip(conn: Conn, script_id: str, section_id: str) -> tuple[int, dict[str, Any]]:
    script_rows.script_row(conn, script_id)
    sections = {s["id"]: s for s in script_rows.sections_of(conn, script_id)}
    if section_id not in sections:
        raise ReviewError(
            f"script {script_id!r} has no section {section_id!r}; sections: {', '.join(sections)}"
        )
    take = sections[section_id]["current_take"]
    clip = take_rows.take_of(conn, script_id, section_id, "clip", take)
    if clip is None:
        raise ReviewError(
            f"section {script_id}/{section_id} has no clip for take {take} yet; nothing to review"
        )
    return take, clip


def decide(
    conn: Conn,
    script_id: str,
    section_id: str,
    decision: str,
    *,
    note: str | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    reviewer: str | None = None,
    take: int | None = None,
) -> dict[str, Any]:
    """Record the decision on the section's current take (`take`, when given, is the one the
    reviewer saw). A take gets one decision: another one, even a concurrent one, raises
    AlreadyDecided and changes nothing."""
    if decision not in ("approved", "rejected"):
        raise ReviewError(f"decision must be approved or rejected, not {decision!r}")
    if decision == "approved" and (prompt is not None or seed is not None):
        raise ReviewError("--prompt and --seed belong to a rejection (they shape the next take)")
    if seed is not None and not 0 <= seed < 2**31:
        raise ReviewError(f"seed {seed} is out of range (0 to 2147483647)")
    current, _ = _current_clip(conn, script_id, section_id)
    if take is not None and take != current:
        raise AlreadyDecided(
            f"take {take} of {script_id}/{section_id} is no longer under review"
            f" (the current take is {current})"
        )
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
    )
    if row is None:
        earlier = approval_rows.decision_on(conn, script_id, section_id, current)
        verdict = earlier["decision"] if earlier else "decided"
        raise AlreadyDecided(
            f"take {current} of {script_id}/{section_id} is already {verdict}; a take gets one"
            " decision (a rejection starts the next take)"
        )
    return row


def decide_take(
    conn: Conn,
    take_id: int,
    decision: str,
    *,
    note: str | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    reviewer: str | None = None,
) -> dict[str, Any]:
    """`decide` addressed by the clip take's id (the original API's section video id)."""
    clip = take_rows.take_by_id(conn, take_id)
    if clip is None or clip["stage"] != "clip":
        raise UnknownTake(f"section video {take_id} does not exist")
    script_id, section_id, take = clip["script_id"], clip["section_id"], clip["take"]
    current = {s["id"]: s["current_take"] for s in script_rows.sections_of(conn, script_id)}
    if current.get(section_id) != take:
        raise AlreadyDecided(
            f"section video {take_id} (take {take} of {script_id}/{section_id}) is no longer"
            f" under review (the current take is {current.get(section_id)})"
        )
    return decide(
        conn,
        script_id,
        section_id,
        decision,
        note=note,
        prompt=prompt,
        seed=seed,
        reviewer=reviewer,
        take=take,
    )


def review_queue(conn: Conn, script_id: str | None = None) -> list[dict[str, Any]]:
    """Sections whose current take has a clip and no decision yet."""
    if script_id:
        script_rows.script_row(conn, script_id)  # an unknown script is an error, not an empty list
    scripts = [script_id] if script_id else script_rows.script_ids(conn)
    queue = []
    for sid in scripts:
        decisions = approval_rows.latest_decisions(conn, sid)
        clips = {(t["section_id"], t["take"]): t for t in take_rows.takes_of(conn, sid, "clip")}
        for section in script_rows.sections_of(conn, sid):
            key = (section["id"], section["current_take"])
            if key in clips and key not in decisions:
                clip = clips[key]
                queue.append(
                    {
                        "script": sid,
                        "section": section["id"],
                        "take": key[1],
                        "clip": clip["media_key"],
                        "thumbnail": clip["thumbnail_key"],
                        "duration_s": clip["duration_s"],
                        "narration": section["narration"],
                    }
                )
    return queue


def unapproved_sections(conn: Conn, script_id: str) -> list[str]:
    """Sections whose current take is not approved (empty: the script may compile)."""
    decisions = approval_rows.current_take_decisions(conn, script_id)
    return [section for section, decision in decisions.items() if decision != "approved"]


def apply_rejection(conn: Conn, decision: dict[str, Any]) -> int | None:
    """Start the next take for a rejected current take; None if the take was already superseded."""
    sections = {s["id"]: s for s in script_rows.sections_of(conn, decision["script_id"])}
    section = sections.get(decision["section_id"])
    if section is None or section["current_take"] != decision["take"]:
        return None
    overrides = {k: decision[k] for k in ("prompt", "seed") if decision.get(k) is not None}
    return script_rows.start_new_take(
        conn, decision["script_id"], decision["section_id"], overrides
    )


@dataclass(frozen=True)
class Retake:
    """A rejection that started a new take: generation is due for it."""

    approval_id: int
    script_id: str
    section_id: str
    take: int


@dataclass
class Decisions:
    """What a batch of decisions asks for: retakes, and scripts now fully approved (with the
    last approval read for each; each got its compile request unless one was in flight), and
    the cursor after the batch."""

    cursor: int
    retakes: list[Retake] = field(default_factory=list)
    ready_to_compile: dict[str, int] = field(default_factory=dict)


def read_decisions(database_url: str, cursor: int, batch: int) -> Decisions:
    """Act on up to `batch` decisions after `cursor`: start the retakes, find the scripts that
    may compile (one per script, however many approvals the batch holds) and record their
    compile request, with the script's own output options: the compile sensor launches it."""
    approved: dict[str, int] = {}
    with connect(database_url) as conn:
        rows = approval_rows.decisions_after(conn, cursor, batch)
        result = Decisions(cursor=rows[-1]["id"] if rows else cursor)
        for decision in rows:
            script_id = decision["script_id"]
            if decision["decision"] == "rejected":
                take = apply_rejection(conn, decision)
                if take is not None:
                    script_rows.set_status(conn, script_id, "generating")
                    result.retakes.append(
                        Retake(decision["id"], script_id, decision["section_id"], take)
                    )
            else:
                approved[script_id] = decision["id"]
        for script_id, approval_id in approved.items():
            if not unapproved_sections(conn, script_id):
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
        conn.commit()
    return result
