"""Review decisions as the API and the review page take them: the body of each decision and
one way to record it, so both refuse the same decisions with the same status and words.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn, connect
from vsl_pipelines.domain.script import Note, Prompt
from vsl_pipelines.services.review import (
    AlreadyDecided,
    ReviewError,
    UnknownTake,
    decide,
    decide_take,
)
from vsl_pipelines.web.errors import http_errors

MAX_SEED = 2**31 - 1


class ApproveBody(BaseModel):
    """An approval: an optional note (a rejection's fields are refused by name)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    note: Note | None = None
    prompt: str | None = Field(default=None, description="refused: belongs to a rejection")
    seed: int | None = Field(default=None, description="refused: belongs to a rejection")

    @field_validator("prompt", "seed")
    @classmethod
    def _rejection_only(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("belongs to a rejection (it shapes the next take)")
        return value


class RejectBody(BaseModel):
    """A rejection: an optional note, and the prompt and seed of the next take."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    note: Note | None = None
    prompt: Prompt | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)


def record_decision(
    database_url: str,
    script_id: str,
    section_id: str,
    decision: str,
    body: ApproveBody | RejectBody,
    *,
    reviewer: str,
    take: int | None = None,
) -> dict[str, Any]:
    """Append a decision on the section's current take (as `vsl review` does); with `take`,
    only if that is still the current one (409 otherwise: a newer take arrived unseen)."""
    with http_errors(), connect(database_url) as conn:
        try:
            row = decide(
                conn,
                script_id,
                section_id,
                decision,
                reviewer=reviewer,
                take=take,
                **body.model_dump(),
            )
        except AlreadyDecided as exc:
            raise HTTPException(409, str(exc)) from None
        except ReviewError as exc:
            raise HTTPException(
                _review_error_status(conn, script_id, section_id), str(exc)
            ) from None
    return {
        "approval_id": row["id"],
        "script": script_id,
        "section": section_id,
        "take": row["take"],
        "decision": decision,
    }


def record_take_decision(
    database_url: str,
    take_id: int,
    decision: str,
    body: ApproveBody | RejectBody,
    *,
    reviewer: str,
) -> dict[str, Any]:
    """Append a decision on a section video addressed by its take id (the original API's
    `videoId`): 404 unknown, 409 not its section's current take or already decided."""
    with http_errors(), connect(database_url) as conn:
        try:
            row = decide_take(conn, take_id, decision, reviewer=reviewer, **body.model_dump())
        except UnknownTake as exc:
            raise HTTPException(404, str(exc)) from None
        except AlreadyDecided as exc:
            raise HTTPException(409, str(exc)) from None
        except ReviewError as exc:
            raise HTTPException(422, str(exc)) from None
    return {
        "approval_id": row["id"],
        "videoId": take_id,
        "script": row["script_id"],
        "section": row["section_id"],
        "take": row["take"],
        "decision": decision,
    }


def _review_error_status(conn: Conn, script_id: str, section_id: str) -> int:
    """404 for an unknown section, 409 while its current take has no clip, else 422."""
    sections = {s["id"]: s for s in script_rows.sections_of(conn, script_id)}
    if section_id not in sections:
        return 404
    take = sections[section_id]["current_take"]
    if take_rows.take_of(conn, script_id, section_id, "clip", take) is None:
        return 409
    return 422
