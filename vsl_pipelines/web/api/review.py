"""`/api/review` and the decisions under `/api/scripts/{id}/sections/{section}`: what waits for
review, approve, reject (a new take follows with the given prompt and seed). A decision is on the
section's clip unless the body says `"subject": "narration"`: a voiced section's narration is
decided on its own, and rejecting it regenerates only the voice (with the body's corrected
`text` and voice `params`). The original API's `/api/section-videos/{videoId}/...` decide the
same way, a clip or narration take's id as `videoId`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.web.access import OwnScript, OwnTake, Reviewer, Viewer, check_script
from vsl_pipelines.web.api.bodies import approve_body, reject_body
from vsl_pipelines.web.api.openapi import request_body
from vsl_pipelines.web.decisions import (
    ApproveBody,
    RejectBody,
    record_decision,
    record_take_decision,
)
from vsl_pipelines.web.deps import ConfigDep, ScriptQuery, SectionId
from vsl_pipelines.web.errors import http_errors

log = get_logger("vsl_pipelines.web.api")

router = APIRouter()

APPROVE_BODY = request_body(
    {"application/json": ApproveBody},
    'an approval (`{}`: the clip, without a note; `{"subject": "narration"}`: the narration)',
)
REJECT_BODY = request_body(
    {"application/json": RejectBody},
    "a rejection: a note, and for a clip the next take's prompt and seed, for a narration"
    ' (`"subject": "narration"`) its corrected `text` and voice `params`',
)


@router.get("/review")
def list_review(actor: Viewer, config: ConfigDep, script: ScriptQuery) -> list[dict[str, Any]]:
    """Section takes of the caller's workspace waiting for a decision (of one script with
    `?script=`): each item's `subject` says whether it is the section's clip or its
    narration."""
    with http_errors():
        if script:
            check_script(config.db, actor, script)
        with config.db.connect() as conn:
            return review_queue(conn, script, workspace_id=actor.workspace_id)


@router.post(
    "/scripts/{script_id}/sections/{section_id}/approve",
    status_code=201,
    openapi_extra=APPROVE_BODY,
)
def approve(
    actor: Reviewer,
    body: Annotated[ApproveBody, Depends(approve_body)],  # read before any lookup
    script_id: OwnScript,
    section_id: SectionId,
    config: ConfigDep,
) -> dict[str, Any]:
    """Approve the section's current clip take, or its narration take (`subject`)."""
    return _decide(config.db, actor, script_id, section_id, "approved", body)


@router.post(
    "/scripts/{script_id}/sections/{section_id}/reject", status_code=201, openapi_extra=REJECT_BODY
)
def reject(
    actor: Reviewer,
    body: Annotated[RejectBody, Depends(reject_body)],  # read before any lookup
    script_id: OwnScript,
    section_id: SectionId,
    config: ConfigDep,
) -> dict[str, Any]:
    """Reject the section's current clip take (a new take follows with the given prompt/seed)
    or its narration take (only the narration is spoken again, with the given text/params)."""
    return _decide(config.db, actor, script_id, section_id, "rejected", body)


@router.post("/section-videos/{video_id}/approve", status_code=201, openapi_extra=APPROVE_BODY)
def approve_video(
    actor: Reviewer,
    body: Annotated[ApproveBody, Depends(approve_body)],
    video_id: OwnTake,
    config: ConfigDep,
) -> dict[str, Any]:
    """Approve a section video (a clip or narration take, by id) while it is its section's
    current take."""
    return _decide_video(config.db, actor, video_id, "approved", body)


@router.post("/section-videos/{video_id}/reject", status_code=201, openapi_extra=REJECT_BODY)
def reject_video(
    actor: Reviewer,
    body: Annotated[RejectBody, Depends(reject_body)],
    video_id: OwnTake,
    config: ConfigDep,
) -> dict[str, Any]:
    """Reject a section video (a clip or narration take, by id); a new take follows."""
    return _decide_video(config.db, actor, video_id, "rejected", body)


def _decide_video(
    db: Database, actor: Actor, video_id: int, decision: str, body: ApproveBody | RejectBody
) -> dict[str, Any]:
    result = record_take_decision(db, video_id, decision, body, reviewer=actor.name)
    log.info(
        "api review %s",
        decision,
        extra={
            "script_id": result["script"],
            "section_id": result["section"],
            "take": result["take"],
        },
    )
    return result


def _decide(
    db: Database,
    actor: Actor,
    script_id: str,
    section_id: str,
    decision: str,
    body: ApproveBody | RejectBody,
) -> dict[str, Any]:
    result = record_decision(db, script_id, section_id, decision, body, reviewer=actor.name)
    log.info(
        "api review %s",
        decision,
        extra={"script_id": script_id, "section_id": section_id, "take": result["take"]},
    )
    return result
