"""The `/review` routes: the page, and the approve / reject form posts that redirect back to it.

Behind the shared rules (an allowed `Host`, the access rule with HTTP Basic allowed); posts
also same-origin and carrying the page's CSRF token. Refusals are answered as HTML pages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.web.access import OwnScript, Reviewer, Viewer, require_script
from vsl_pipelines.web.api.openapi import error_responses
from vsl_pipelines.web.decisions import record_decision
from vsl_pipelines.web.deps import (
    ConfigDep,
    ScriptQuery,
    SectionId,
    check_host,
    require_reviewer_key,
    text_query,
)
from vsl_pipelines.web.errors import http_errors
from vsl_pipelines.web.review import csrf
from vsl_pipelines.web.review.forms import (
    DecisionForm,
    approval_form,
    rejection_form,
    same_origin_post,
)
from vsl_pipelines.web.review.pages import (
    DECISION_FORMS,
    ReviewPageRoute,
    page_path,
    review_response,
)
from vsl_pipelines.web.review.views import review_page as build_review_page

log = get_logger("vsl_pipelines.web.review")

MAX_NOTICE_CHARS = 300

router = APIRouter(
    route_class=ReviewPageRoute,
    responses=error_responses(html=True),
    dependencies=[Depends(check_host), Depends(require_reviewer_key)],
)


@router.get("", response_class=HTMLResponse, name="review_page")
def review_page(
    request: Request,
    actor: Viewer,
    config: ConfigDep,
    script: ScriptQuery,
    done: str | None = None,
) -> HTMLResponse:
    """The takes of the caller's workspace waiting for a decision (of one script with
    `?script=`)."""
    done = text_query("query done", done, MAX_NOTICE_CHARS)
    if script:
        require_script(config.db, actor, script)
    with http_errors(), config.db.connect() as conn:
        page = build_review_page(
            conn, config.media_store, script, done, config.registry, actor.workspace_id
        )
    path = page_path(request)
    nonce = csrf.session_nonce(request)
    response = review_response(page, path, csrf.form_token(csrf.app_secret(request), nonce))
    csrf.set_cookie(response, request, nonce, path)
    return response


@router.post(
    "/{script_id}/{section_id}/approve",
    dependencies=[Depends(same_origin_post)],
    openapi_extra=DECISION_FORMS["approve"],
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "Recorded; back to the page"}},
)
def approve(
    request: Request,
    actor: Reviewer,
    form: Annotated[DecisionForm, Depends(approval_form)],  # read before any lookup
    script_id: OwnScript,
    section_id: SectionId,
    config: ConfigDep,
) -> RedirectResponse:
    """Approve the section's current take, then back to the page."""
    return _decide(request, config.db, actor, script_id, section_id, "approved", form)


@router.post(
    "/{script_id}/{section_id}/reject",
    dependencies=[Depends(same_origin_post)],
    openapi_extra=DECISION_FORMS["reject"],
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "Recorded; back to the page"}},
)
def reject(
    request: Request,
    actor: Reviewer,
    form: Annotated[DecisionForm, Depends(rejection_form)],  # read before any lookup
    script_id: OwnScript,
    section_id: SectionId,
    config: ConfigDep,
) -> RedirectResponse:
    """Reject the section's current take (a new take follows), then back to the page."""
    return _decide(request, config.db, actor, script_id, section_id, "rejected", form)


def _decide(
    request: Request,
    db: Database,
    actor: Actor,
    script_id: str,
    section_id: str,
    decision: str,
    form: DecisionForm,
) -> RedirectResponse:
    with db.connect() as conn:  # the page as the reviewer saw it
        queue = review_queue(conn, workspace_id=actor.workspace_id)
    shown = [item for item in queue if form.view in (None, item["script"])]
    result = record_decision(db, script_id, section_id, decision, form.body, reviewer=actor.name)
    log.info(
        "review page %s",
        decision,
        extra={"script_id": script_id, "section_id": section_id, "take": result["take"]},
    )
    what = " (narration)" if result["subject"] == "narration" else ""
    query = {"done": f"{decision}:{script_id}/{section_id}{what}"}
    if form.view:
        query["script"] = form.view
    anchor = _next_anchor(shown, script_id, section_id, result["subject"])
    return RedirectResponse(f"{page_path(request)}?{urlencode(query)}{anchor}", status_code=303)


def _next_anchor(shown: list[dict[str, Any]], script_id: str, section_id: str, subject: str) -> str:
    """Where the reviewer was: the take that followed the decided one on the page they saw
    (the one before it when it was the last); no jump to the top after each decision."""
    keys = [(i["script"], i["section"], i["subject"]) for i in shown]
    decided = (script_id, section_id, subject)
    if decided not in keys:
        return ""
    at = keys.index(decided)
    neighbours = shown[at + 1 : at + 2] or shown[max(at - 1, 0) : at]
    if not neighbours:
        return ""
    item = neighbours[0]
    return f"#{item['subject']}-{item['script']}-{item['section']}-{item['take']}"
