"""`/api/review` and the decisions under `/api/scripts/{id}/sections/{section}`: what waits for
review, approve, reject (a new take follows with the given prompt and seed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from vsl_pipelines.db.connection import connect
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.web.api.bodies import approve_body, reject_body
from vsl_pipelines.web.api.openapi import request_body
from vsl_pipelines.web.decisions import ApproveBody, RejectBody, record_decision
from vsl_pipelines.web.deps import ConfigDep, ScriptId, ScriptQuery, SectionId
from vsl_pipelines.web.errors import http_errors

log = get_logger("vsl_pipelines.web.api")

router = APIRouter()


APPROVE_BODY = request_body({"application/json": ApproveBody}, "an approval (`{}` without a note)")
REJECT_BODY = request_body(
    {"application/json": RejectBody}, "a rejection: a note, the next take's prompt and seed"
)


@router.get("/review")
def list_review(config: ConfigDep, script: ScriptQuery) -> list[dict[str, Any]]:
    """Section takes waiting for a decision (of one script with `?script=`)."""
    with http_errors(), connect(config.database_url) as conn:
        return review_queue(conn, script)


@router.post(
    "/scripts/{script_id}/sections/{section_id}/approve",
    status_code=201,
    openapi_extra=APPROVE_BODY,
)
def approve(
    script_id: ScriptId,
    section_id: SectionId,
    body: Annotated[ApproveBody, Depends(approve_body)],
    config: ConfigDep,
) -> dict[str, Any]:
    """Approve the section's current take."""
    return _decide(config.database_url, script_id, section_id, "approved", body)


@router.post(
    "/scripts/{script_id}/sections/{section_id}/reject", status_code=201, openapi_extra=REJECT_BODY
)
def reject(
    script_id: ScriptId,
    section_id: SectionId,
    body: Annotated[RejectBody, Depends(reject_body)],
    config: ConfigDep,
) -> dict[str, Any]:
    """Reject the section's current take; a new take follows with the given prompt/seed."""
    return _decide(config.database_url, script_id, section_id, "rejected", body)


def _decide(
    database_url: str,
    script_id: str,
    section_id: str,
    decision: str,
    body: ApproveBody | RejectBody,
) -> dict[str, Any]:
    result = record_decision(database_url, script_id, section_id, decision, body, reviewer="api")
    log.info(
        "api review %s",
        decision,
        extra={"script_id": script_id, "section_id": section_id, "take": result["take"]},
    )
    return result
