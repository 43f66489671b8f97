"""Review decisions as the API and the review page take them: the body of each decision and
one way to record it, so both refuse the same decisions with the same status and words.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.narration import narration_voice, spoken_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Narration, Note, Prompt
from vsl_pipelines.services.review import (
    AlreadyDecided,
    ReviewError,
    UnknownTake,
    decide,
    decide_take,
)
from vsl_pipelines.web.errors import http_errors

MAX_SEED = 2**31 - 1


Subject = Literal["clip", "narration"]
SUBJECT_DESCRIPTION = (
    "what is decided: the section's clip (default) or its narration (voiced sections)"
)


class ApproveBody(BaseModel):
    """An approval: what is approved and an optional note (a rejection's fields are refused by
    name)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    subject: Subject | None = Field(default=None, description=SUBJECT_DESCRIPTION)
    note: Note | None = None
    prompt: str | None = Field(default=None, description="refused: belongs to a rejection")
    seed: int | None = Field(default=None, description="refused: belongs to a rejection")
    params: dict[str, Any] | None = Field(
        default=None, description="refused: belongs to a narration rejection"
    )
    text: str | None = Field(default=None, description="refused: belongs to a narration rejection")

    @field_validator("prompt", "seed", "params", "text")
    @classmethod
    def _rejection_only(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("belongs to a rejection (it shapes the next take)")
        return value


class RejectBody(BaseModel):
    """A rejection: what is rejected, an optional note, and what shapes the next take: the
    prompt and seed of a clip, the corrected words and voice parameters of a narration."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    subject: Subject | None = Field(default=None, description=SUBJECT_DESCRIPTION)
    note: Note | None = None
    prompt: Prompt | None = Field(default=None, description="a clip's next prompt")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="a clip's next seed")
    params: dict[str, Any] | None = Field(
        default=None,
        description="a narration's next voice parameters over the voice's own, e.g."
        ' `{"speed": 1.1, "voice": "af_sarah"}` (checked against the model registry)',
    )
    text: Narration | None = Field(
        default=None, description="a narration's corrected words for its next take"
    )


def drop_unchanged_text(
    db: Database, script_id: str, section_id: str, fields: dict[str, Any]
) -> None:
    """Take out of a rejection's form (the studio's and the review page's) the prompt and the
    words its forms start from, sent back unchanged: they are no override (a retake keeps the
    script's prompt, the words their voice speaks now)."""
    from vsl_pipelines.web.review.views import section_prompt  # the review package imports this

    subject = fields.get("subject") or "clip"
    if subject == "clip" and "prompt" not in fields:
        return
    if subject == "narration" and "text" not in fields:
        return
    with http_errors(), db.connect() as conn:
        rows = {s.id: s for s in script_rows.sections_of(conn, script_id)}
        script = script_rows.load_stored_script(conn, script_id)
    row = rows.get(section_id)
    written = next((s for s in script.sections if s.id == section_id), None)
    if row is None or written is None:
        return
    if subject == "clip" and fields.get("prompt") == section_prompt(row.spec):
        del fields["prompt"]
    voiced = script.voice_of(written) is not None
    if subject == "narration" and voiced and fields.get("text") == spoken_text(row, written):
        del fields["text"]


def changed_voice_params(
    db: Database,
    registry: Registry,
    script_id: str,
    section_id: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """Take the voice's parameter fields out of a narration rejection's form (the studio's and
    the review page's): the values that differ from the current narration take's voice (an
    unchanged value is no override), typed as the registry says; the inputs are the registry's
    (`studio.param_inputs`), as the editor shows them. A section without a voice is left
    to the decision to refuse."""
    # The studio's package imports this module: its forms are imported when first used.
    from vsl_pipelines.web.studio.forms import DECISION_FIELDS, param_inputs, typed_param

    with http_errors(), db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        rows = {r.id: r for r in script_rows.sections_of(conn, script_id)}
    if section_id not in rows or section_id not in {s.id for s in script.sections}:
        return {}
    voice = script.voice_of(script.section(section_id))
    spec = registry.models.get(voice.model) if voice is not None else None
    if voice is None or spec is None:
        return {}
    current = {
        **spec.defaults,
        **narration_voice(voice, rows[section_id].narration_overrides).params,
    }
    changed: dict[str, Any] = {}
    for shown in param_inputs(spec):
        if shown.name in DECISION_FIELDS:
            continue
        value = fields.pop(shown.name, None)
        if value is None:
            continue
        typed = typed_param(value, spec, shown.name)
        if shown.kind == "number" and not isinstance(typed, int | float):
            raise HTTPException(422, f"form: {shown.name}: must be a number")
        before = current.get(shown.name)
        same = (
            before == typed
            if not (isinstance(before, int | float) and isinstance(typed, int | float))
            else float(before) == float(typed)
        )
        if not same:
            changed[shown.name] = typed
    return changed


def record_decision(
    db: Database,
    script_id: str,
    section_id: str,
    decision: str,
    body: ApproveBody | RejectBody,
    *,
    reviewer: str,
    take: int | None = None,
) -> dict[str, Any]:
    """Append a decision on the section's current take of the body's subject (as `vsl review`
    does); with `take`, only if that is still the current one (409 otherwise: a newer take
    arrived unseen)."""
    fields = body.model_dump()
    subject = fields.pop("subject") or "clip"
    with http_errors(), db.connect() as conn:
        try:
            row = decide(
                conn,
                script_id,
                section_id,
                decision,
                subject=subject,
                reviewer=reviewer,
                take=take,
                **fields,
            )
        except AlreadyDecided as exc:
            raise HTTPException(409, str(exc)) from None
        except ReviewError as exc:
            raise HTTPException(
                _review_error_status(conn, script_id, section_id, subject), str(exc)
            ) from None
    return {
        "approval_id": row.id,
        "script": script_id,
        "section": section_id,
        "subject": row.subject,
        "take": row.take,
        "decision": decision,
        "decided_by": row.reviewer,
    }


def record_take_decision(
    db: Database,
    take_id: int,
    decision: str,
    body: ApproveBody | RejectBody,
    *,
    reviewer: str,
) -> dict[str, Any]:
    """Append a decision on a section video (a clip or narration take) addressed by its take
    id (the original API's `videoId`): 404 unknown, 409 not its section's current take or
    already decided."""
    with http_errors(), db.connect() as conn:
        try:
            row = decide_take(conn, take_id, decision, reviewer=reviewer, **body.model_dump())
        except UnknownTake as exc:
            raise HTTPException(404, str(exc)) from None
        except AlreadyDecided as exc:
            raise HTTPException(409, str(exc)) from None
        except ReviewError as exc:
            raise HTTPException(422, str(exc)) from None
    return {
        "approval_id": row.id,
        "videoId": take_id,
        "script": row.script_id,
        "section": row.section_id,
        "subject": row.subject,
        "take": row.take,
        "decision": decision,
        "decidedBy": row.reviewer,
    }


def _review_error_status(conn: Conn, script_id: str, section_id: str, subject: str) -> int:
    """404 for an unknown section, 409 while its current take of the subject (clip or voiced
    narration) is not stored yet, else 422."""
    sections = {s.id: s for s in script_rows.sections_of(conn, script_id)}
    if section_id not in sections:
        return 404
    if subject == "narration":
        script = script_rows.load_stored_script(conn, script_id)
        if script.voice_of(script.section(section_id)) is None:
            return 422
        take = sections[section_id].narration_take
        stage = "narration"
    else:
        take, stage = sections[section_id].current_take, "clip"
    if take_rows.take_of(conn, script_id, section_id, stage, take) is None:
        return 409
    return 422
