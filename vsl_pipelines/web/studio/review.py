"""The studio's review queue under `/studio/review`: every take of the workspace waiting for a
decision, decided from the keyboard (`static/review.js`: J/K, A, R, P) or by plain forms; a
voiced section's clip and narration approved with one action, the sections played approved
together, a rejection's retake priced before it is asked for; a script's whole sequence played
before compiling, and its choice to compile on its last approval or wait for a person.

Same session, workspace and rules as the rest of the studio (routes.py): viewers see the queue,
deciding needs the reviewer role (403), another workspace's script is unknown (404); every post
is same-site and carries the session's CSRF token. The script page's decision forms
(`review_decide.html`) post here too, and come back to the section they were on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.compilation import CompileInFlight, NotApproved, request_compile
from vsl_pipelines.services.review import (
    AlreadyDecided,
    ReviewError,
    approve_section,
    awaiting_compile,
    retake_estimate,
    review_queue,
    set_compile_on_approval,
    waiting_decisions,
)
from vsl_pipelines.web.access import require_role, require_script
from vsl_pipelines.web.decisions import (
    ApproveBody,
    RejectBody,
    changed_voice_params,
    drop_unchanged_text,
    record_decision,
)
from vsl_pipelines.web.deps import (
    ConfigDep,
    ScriptId,
    ScriptQuery,
    SectionId,
    check_host,
    id_parameter,
    section_parameter,
    text_query,
)
from vsl_pipelines.web.errors import http_errors, validation_problems
from vsl_pipelines.web.studio import session
from vsl_pipelines.web.studio.pages import STUDIO, StudioRoute, page
from vsl_pipelines.web.studio.queue import notice, review_queue_page, sequence
from vsl_pipelines.web.studio.routes import Session, SmallForm, checked_form, same_site_writes

log = get_logger("vsl_pipelines.web.studio")

QUEUE = f"{STUDIO}/review"
MAX_NOTICE_CHARS = 300
MAX_PLAYED = 200
BACKS = ("queue", "script", "preview")
SUBJECTS = ("clip", "narration")
COMPILE_CHOICES = {"on-approval": True, "by-hand": False}
_TAKE = re.compile(r"[1-9][0-9]{0,5}")

router = APIRouter(
    route_class=StudioRoute,
    dependencies=[Depends(check_host), Depends(same_site_writes)],
    include_in_schema=False,
)


# Where a form goes back to ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnTo:
    """Where a decision form came from: the queue (of one script: `view`), a script's page or
    its sequence; and on the queue, the section shown after this one."""

    back: str
    view: str | None
    next: tuple[str, str] | None

    def url(self, script_id: str, section_id: str | None, done: str, stays: bool) -> str:
        """Back where the reviewer was: the same section while something of it still waits
        (`stays`), else the next one; with a notice of what was done."""
        if self.back == "script":
            anchor = f"#section-{section_id}" if section_id else "#final"
            return f"{STUDIO}/scripts/{script_id}{anchor}"
        if self.back == "preview":
            return f"{QUEUE}/{script_id}/preview"
        query = {"done": done, **({"script": self.view} if self.view else {})}
        anchor = ""
        if section_id and stays:
            anchor = f"#item-{script_id}-{section_id}"
        elif self.next:
            anchor = f"#item-{self.next[0]}-{self.next[1]}"
        return f"{QUEUE}?{urlencode(query)}{anchor}"


def return_to(fields: dict[str, str]) -> ReturnTo:
    """Take `back`, `view` and `next` out of a form (422 naming a bad one)."""
    back = fields.pop("back", "queue")
    if back not in BACKS:
        raise HTTPException(422, f"form: back: one of {', '.join(BACKS)}")
    view = fields.pop("view", None)
    if view is not None:
        id_parameter("form view", view)
    following = fields.pop("next", None)
    after = None
    if following is not None:
        script_id, _, section_id = following.partition("/")
        after = (id_parameter("form next", script_id), section_parameter("form next", section_id))
    return ReturnTo(back, view, after)


def take_field(fields: dict[str, str], name: str) -> int | None:
    """A take number the page showed (`take`, `clip`, `narration`), or None when not sent."""
    value = fields.pop(name, None)
    if value is None:
        return None
    if not _TAKE.fullmatch(value):
        raise HTTPException(422, f"form: {name} must be the number of the take shown")
    return int(value)


def refuse_extra(fields: dict[str, str], what: str) -> None:
    if fields:
        names = ", ".join(sorted(name[:40] for name in fields))
        raise HTTPException(422, f"form: {names}: not a field of {what}")


def _stays(db: Database, script_id: str, section_id: str) -> bool:
    """Whether something of the section still waits for a decision."""
    with db.connect() as conn:
        return any(item["section"] == section_id for item in review_queue(conn, script_id))


def _decision_refused(conn: Conn, script_id: str, section_id: str, subjects: list[str]) -> int:
    """The status of a refused decision: 404 an unknown section, 409 a take not stored yet,
    422 else (e.g. a narration of a section without a voice)."""
    sections = {s.id: s for s in script_rows.sections_of(conn, script_id)}
    section = sections.get(section_id)
    if section is None:
        return 404
    if "narration" in subjects:
        script = script_rows.load_stored_script(conn, script_id)
        written = next((s for s in script.sections if s.id == section_id), None)
        if written is None or script.voice_of(written) is None:
            return 422
    for subject in subjects:
        take = section.narration_take if subject == "narration" else section.current_take
        if take_rows.take_of(conn, script_id, section_id, subject, take) is None:
            return 409
    return 422


# Pages ------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, name="studio_review")
def queue_page(
    request: Request,
    user: Session,
    config: ConfigDep,
    script: ScriptQuery,
    done: str | None = None,
) -> HTMLResponse:
    """The takes of the workspace waiting for a decision (of one script with `?script=`)."""
    done = text_query("query done", done, MAX_NOTICE_CHARS)
    workspace_id = user.actor.workspace_id
    if script:
        require_script(config.db, user.actor, script)
    with http_errors(), config.db.connect() as conn:
        queue = review_queue_page(
            conn, config.media_store, config.registry, workspace_id, script, notice(done)
        )
        pending = waiting_decisions(conn, workspace_id)
    return page(
        "review.html",
        request,
        queue=queue,
        may_decide=user.actor.may(Role.REVIEWER),
        pending_decisions=pending,
    )


@router.get("/live", response_class=HTMLResponse, name="studio_review_live")
def queue_live(
    request: Request, user: Session, config: ConfigDep, script: ScriptQuery
) -> HTMLResponse:
    """The queue below its toolbar, as the page shows it (htmx polls it while a script of
    the queue is active)."""
    if script:
        require_script(config.db, user.actor, script)
    with http_errors(), config.db.connect() as conn:
        queue = review_queue_page(
            conn, config.media_store, config.registry, user.actor.workspace_id, script
        )
    return page("review_live.html", request, queue=queue, may_decide=user.actor.may(Role.REVIEWER))


@router.get("/badge", response_model=None)
async def badge(request: Request, config: ConfigDep) -> Response:
    """The navigation's count of decisions waiting (an htmx fragment; nothing signed out)."""
    found = await session.current_session(request, config)
    if found is None:
        return Response(status_code=204)
    pending = await run_in_threadpool(_waiting, config.db, found.actor.workspace_id)
    return page("review_badge.html", request, pending_decisions=pending)


def _waiting(db: Database, workspace_id: int) -> int:
    with db.connect() as conn:
        return waiting_decisions(conn, workspace_id)


@router.get("/{script_id}/preview", response_class=HTMLResponse, name="studio_sequence")
def sequence_page(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """The script's current takes in order, played one after the other (a playlist in the
    browser, not the compiled video)."""
    require_script(config.db, user.actor, script_id)
    with http_errors(), config.db.connect() as conn:
        shown = sequence(conn, config.media_store, script_id, user.actor.workspace_id)
    return page(
        "review_sequence.html", request, seq=shown, may_decide=user.actor.may(Role.REVIEWER)
    )


@router.get("/{script_id}/{section_id}/retake", response_class=HTMLResponse)
def retake_cost(
    request: Request,
    user: Session,
    script_id: ScriptId,
    section_id: SectionId,
    config: ConfigDep,
    subject: Annotated[str, Query(max_length=20)] = "clip",
) -> HTMLResponse:
    """What a retake of the section's clip or narration costs and takes (an htmx fragment the
    script page's reject forms load when opened)."""
    if subject not in SUBJECTS:
        raise HTTPException(422, "query subject: clip or narration")
    require_script(config.db, user.actor, script_id)
    with http_errors(), config.db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        row = next(
            (s for s in script_rows.sections_of(conn, script_id) if s.id == section_id), None
        )
    if row is None:
        raise HTTPException(404, f"script {script_id!r} has no section {section_id!r}")
    estimate = retake_estimate(script, config.registry, row, subject)
    return page("review_retake.html", request, estimate=estimate)


# Decisions --------------------------------------------------------------------------------------


@router.post("/{script_id}/{section_id}/approve", response_model=None)
def approve(
    user: Session,
    script_id: ScriptId,
    section_id: SectionId,
    fields: SmallForm,
    config: ConfigDep,
) -> Response:
    """Approve the takes the page showed: `clip` and/or `narration` (their take numbers; both
    at once for a voiced section, or neither approved), with an optional `note`."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    require_script(config.db, user.actor, script_id)
    to = return_to(fields)
    takes = {s: take for s in SUBJECTS if (take := take_field(fields, s)) is not None}
    try:
        body = ApproveBody.model_validate(fields)  # the note; anything else is refused by name
    except ValidationError as exc:
        raise HTTPException(422, f"form: {validation_problems(exc, 'form')}") from None
    if not takes:
        raise HTTPException(422, "form: clip or narration: name the take(s) to approve")
    with http_errors(), config.db.connect() as conn:
        try:
            approve_section(
                conn, script_id, section_id, takes, note=body.note, reviewer=user.actor.name
            )
        except AlreadyDecided as exc:
            raise HTTPException(409, str(exc)) from None
        except ReviewError as exc:
            status = _decision_refused(conn, script_id, section_id, list(takes))
            raise HTTPException(status, str(exc)) from None
    log.info(
        "studio review approved",
        extra={"script_id": script_id, "section_id": section_id, "fields": takes},
    )
    what = " and ".join(takes)
    done = f"approved:{section_id} of {script_id} ({what})"
    stays = len(takes) < 2 and _stays(config.db, script_id, section_id)
    return RedirectResponse(to.url(script_id, section_id, done, stays), status_code=303)


@router.post("/{script_id}/{section_id}/reject", response_model=None)
def reject(
    user: Session,
    script_id: ScriptId,
    section_id: SectionId,
    fields: SmallForm,
    config: ConfigDep,
) -> Response:
    """Reject the take shown (`take`) of the clip (`prompt?`, `seed?`: the variation) or, with
    `subject=narration`, of the narration (`text?` and the voice's parameters, e.g. `speed`);
    `note?`. The prompt and words the forms start from, sent back unchanged, are no override."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    require_script(config.db, user.actor, script_id)
    to = return_to(fields)
    seen = take_field(fields, "take")
    subject = fields.get("subject", "clip")
    if subject not in SUBJECTS:
        raise HTTPException(422, "form: subject must be clip or narration")
    body: dict[str, Any] = dict(fields)
    if subject == "narration":
        params = changed_voice_params(config.db, config.registry, script_id, section_id, body)
        if params:
            body["params"] = params
    drop_unchanged_text(config.db, script_id, section_id, body)
    try:
        rejection = RejectBody.model_validate(body)
    except ValidationError as exc:
        raise HTTPException(422, f"form: {validation_problems(exc, 'form')}") from None
    result = record_decision(
        config.db, script_id, section_id, "rejected", rejection, reviewer=user.actor.name, take=seen
    )
    log.info(
        "studio review rejected",
        extra={
            "script_id": script_id,
            "section_id": section_id,
            "fields": {"take": result["take"]},
        },
    )
    done = f"rejected:{section_id} of {script_id} ({subject} take {result['take']})"
    stays = _stays(config.db, script_id, section_id)
    return RedirectResponse(to.url(script_id, section_id, done, stays), status_code=303)


def played_items(raw: str) -> list[tuple[str, str, dict[str, int]]]:
    """`items`: the played sections as the page names them, `SCRIPT/SECTION/CLIP/NARRATION`
    separated by spaces (a take number, or `-` for nothing of it waiting); 422 naming a bad
    one."""
    found = []
    tokens = raw.split()
    if len(tokens) > MAX_PLAYED:
        raise HTTPException(422, f"form: items: at most {MAX_PLAYED} sections at once")
    for token in tokens:
        parts = token.split("/")
        if len(parts) != 4:
            raise HTTPException(
                422, f"form: items: {token[:80]!r} is not SCRIPT/SECTION/CLIP/VOICE"
            )
        script_id = id_parameter("form items", parts[0])
        section_id = section_parameter("form items", parts[1])
        takes = {}
        for subject, value in zip(SUBJECTS, parts[2:], strict=True):
            if value == "-":
                continue
            if not _TAKE.fullmatch(value):
                raise HTTPException(422, f"form: items: {token[:80]!r}: {value!r} is not a take")
            takes[subject] = int(value)
        if not takes:
            raise HTTPException(422, f"form: items: {token[:80]!r} names no take")
        found.append((script_id, section_id, takes))
    if not found:
        raise HTTPException(422, "form: items: play a section first, then approve it")
    return found


@router.post("/approve-played", response_model=None)
def approve_played(user: Session, fields: SmallForm, config: ConfigDep) -> Response:
    """Approve every section the reviewer played (`items`), each with the takes shown; one that
    changed meanwhile (decided elsewhere, a newer take) is left in the queue."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    to = return_to(fields)
    if to.back != "queue":
        raise HTTPException(422, "form: back: the played sections are approved from the queue")
    items = played_items(fields.pop("items", ""))
    refuse_extra(fields, "an approval of the played sections")
    for script_id in dict.fromkeys(script_id for script_id, _, _ in items):
        require_script(config.db, user.actor, script_id)  # all checked before any is decided
    approved, left = 0, 0
    for script_id, section_id, takes in items:
        try:
            with config.db.connect() as conn:
                approve_section(conn, script_id, section_id, takes, reviewer=user.actor.name)
            approved += 1
        except (ReviewError, script_rows.ScriptNotFound):
            left += 1
    log.info("studio review approved played", extra={"fields": {"approved": approved}})
    done = f"played:{approved}" + (f" (left {left} that had changed)" if left else "")
    return RedirectResponse(to.url("", None, done, False), status_code=303)


# The compile -------------------------------------------------------------------------------------


@router.post("/{script_id}/settings", response_model=None)
def compile_setting(
    user: Session, script_id: ScriptId, fields: SmallForm, config: ConfigDep
) -> Response:
    """`compile=on-approval` (compile when the last take is approved) or `by-hand` (wait for a
    person's "Compile"). Set back to on-approval with every take approved and no compile asked
    for since, the compile is asked for now."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    require_script(config.db, user.actor, script_id)
    to = return_to(fields)
    choice = fields.pop("compile", "")
    if choice not in COMPILE_CHOICES:
        raise HTTPException(422, f"form: compile: one of {', '.join(COMPILE_CHOICES)}")
    refuse_extra(fields, "the compile setting")
    on = COMPILE_CHOICES[choice]
    done = f"{'auto' if on else 'manual'}:{script_id}"
    with http_errors(), config.db.connect() as conn:
        waiting = awaiting_compile(conn, user.actor.workspace_id, script_id)
        set_compile_on_approval(conn, script_id, on, user.actor.name)
        if on and waiting:
            _compile(conn, script_id, user.actor.name)
            done = f"compile:{script_id}"
    return RedirectResponse(to.url(script_id, None, done, False), status_code=303)


@router.post("/{script_id}/compile", response_model=None)
def compile_now(
    user: Session, script_id: ScriptId, fields: SmallForm, config: ConfigDep
) -> Response:
    """A person's "Compile": the script's video with its own output options (409 while a take
    is not approved or a compile is in flight)."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    require_script(config.db, user.actor, script_id)
    to = return_to(fields)
    refuse_extra(fields, "a compile")
    with http_errors(), config.db.connect() as conn:
        _compile(conn, script_id, user.actor.name)
    return RedirectResponse(to.url(script_id, None, f"compile:{script_id}", False), status_code=303)


def _compile(conn: Conn, script_id: str, actor: str) -> None:
    try:
        request_compile(conn, script_id, requested_by=actor)
    except (NotApproved, CompileInFlight) as exc:
        raise HTTPException(409, str(exc)) from None
