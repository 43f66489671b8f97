"""The `/studio` routes: sign-in, the scripts list, the editor (with its live estimate, YAML
import and export), a script's page (polled while generation runs) and its forms: decisions,
retry, compile. Every route is behind the `Host` rule; every page but sign-in behind a session;
every post same-origin and, but sign-in, carrying the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.scripts import ScriptExists, load_stored_script
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import (
    DocumentError,
    ScriptError,
    check_document,
    load_yaml,
)
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.compilation import (
    CompileInFlight,
    NotApproved,
    request_compile,
)
from vsl_pipelines.services.intake import add_script
from vsl_pipelines.services.script_state import NotFailed, retry_script
from vsl_pipelines.web.access import require_role, require_script
from vsl_pipelines.web.api.video import video_download
from vsl_pipelines.web.decisions import (
    ApproveBody,
    RejectBody,
    changed_voice_params,
    record_decision,
)
from vsl_pipelines.web.deps import (
    SAFE_METHODS,
    ConfigDep,
    ScriptId,
    SectionId,
    check_host,
    refuse_cross_site,
)
from vsl_pipelines.web.errors import http_errors, validation_problems
from vsl_pipelines.web.review.forms import parse_form, read_form_body
from vsl_pipelines.web.studio import editor, forms, recompile, session, views
from vsl_pipelines.web.studio.oidc import OidcSignIn, SignInRefused, person_for
from vsl_pipelines.web.studio.pages import STUDIO, StudioRoute, page

log = get_logger("vsl_pipelines.web.studio")


async def same_site_writes(request: Request) -> None:
    """A post from another site is refused (403) before anything else is looked at, its
    session included (a SameSite=Lax cookie does not come with it anyway)."""
    if request.method not in SAFE_METHODS:
        refuse_cross_site(request, "the form was posted")


router = APIRouter(
    route_class=StudioRoute,
    dependencies=[Depends(check_host), Depends(same_site_writes)],
    include_in_schema=False,
)
Session = Annotated[session.StudioSession, Depends(session.require_session)]
EDITOR_SOURCE = editor.EDITOR_SOURCE


async def _form(request: Request, max_bytes: int, max_fields: int) -> dict[str, str]:
    return parse_form(await read_form_body(request, max_bytes), max_fields)


async def small_form(request: Request) -> dict[str, str]:
    """A decision, retry, compile or sign-in form (16 KiB, 16 fields)."""
    return await _form(request, forms.MAX_SMALL_FORM_BYTES, forms.MAX_SMALL_FORM_FIELDS)


async def editor_form(request: Request) -> dict[str, str]:
    """The editor's form (a whole script: 1 MB)."""
    return await _form(request, forms.MAX_EDITOR_BYTES, forms.MAX_EDITOR_FIELDS)


SmallForm = Annotated[dict[str, str], Depends(small_form)]
EditorFields = Annotated[dict[str, str], Depends(editor_form)]


def checked_form(user: session.StudioSession, fields: dict[str, str]) -> dict[str, str]:
    session.check_form_token(user, fields.pop(session.FIELD, None))
    return fields


# Sign-in ---------------------------------------------------------------------------------


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a studio path of this site, never elsewhere."""
    if not value or not value.startswith(f"{STUDIO}") or value.startswith("//"):
        return STUDIO
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or not value.isprintable():
        return STUDIO
    return value[:500]


@router.get("/sign-in", response_class=HTMLResponse, name="studio_sign_in")
def sign_in_page(request: Request, config: ConfigDep, next: str | None = None) -> HTMLResponse:
    return page(
        "sign_in.html", request, next=_next_path(next), error=None, oidc=config.oidc is not None
    )


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, fields: SmallForm, config: ConfigDep) -> Response:
    """Sign in with an API key: only where no OpenID provider is configured (with one, people
    sign in at the provider and keys are for the API alone)."""
    if config.oidc is not None:
        raise HTTPException(403, "the studio is signed into with your account, not an API key")
    target = _next_path(fields.get("next"))
    content = await session.sign_in(config, session.session_secret(request), fields.get("key", ""))
    if content is None:
        log.warning("studio sign-in refused")
        return page(
            "sign_in.html", request, status_code=401, next=target, error="That key is not valid."
        )
    response = RedirectResponse(target, status_code=303)
    session.set_cookie(response, request, content)
    log.info("studio sign-in", extra={"fields": {"who": content["who"]}})
    return response


@router.get("/auth/start", response_model=None)
async def oidc_start(request: Request, next: str | None = None) -> Response:
    """To the OpenID provider's sign-in (PKCE, state and nonce kept by Authlib)."""
    client = _oidc(request)
    request.session["next"] = _next_path(next)
    callback = str(request.url_for("studio_auth_callback"))
    return await client.redirect(request, callback)


@router.get("/auth/callback", response_model=None, name="studio_auth_callback")
async def oidc_callback(request: Request, config: ConfigDep) -> Response:
    """Back from the provider: the member its verified email names, signed in to their first
    workspace (or refused with the reason, nothing signed in)."""
    client = _oidc(request)
    try:
        claims = await client.claims(request)
        person = await run_in_threadpool(person_for, config.db, claims)
    except SignInRefused as exc:
        log.warning("studio sign-in refused", extra={"fields": {"reason": str(exc)}})
        return page(
            "sign_in.html", request, status_code=403, next=STUDIO, error=str(exc), oidc=True
        )
    target = _next_path(request.session.pop("next", None))
    first = person.memberships[0]
    response = RedirectResponse(target, status_code=303)
    content = session.person_session(person.person_id, person.email, first.workspace_id)
    session.set_cookie(response, request, content)
    log.info("studio sign-in", extra={"user_id": person.email, "fields": {"via": "oidc"}})
    return response


@router.post("/workspace", response_model=None)
def switch_workspace(request: Request, user: Session, fields: SmallForm) -> Response:
    """Work in another of the person's workspaces (a member of it: else 404)."""
    checked_form(user, fields)
    wanted = fields.get("workspace", "")
    membership = next((m for m in user.memberships if m.slug == wanted), None)
    if membership is None:
        raise HTTPException(404, f"no workspace {wanted[:64]!r} of yours")
    response = RedirectResponse(STUDIO, status_code=303)
    content = session.person_session(membership.person_id, user.who, membership.workspace_id)
    session.set_cookie(response, request, content)
    return response


def _oidc(request: Request) -> OidcSignIn:
    client: OidcSignIn | None = request.app.state.oidc
    if client is None:
        raise HTTPException(404, "no sign-in provider is configured; sign in with an API key")
    return client


@router.post("/sign-out", response_model=None)
def sign_out(user: Session, fields: SmallForm) -> Response:
    checked_form(user, fields)
    response = RedirectResponse(f"{STUDIO}/sign-in", status_code=303)
    session.clear_cookie(response)
    return response


# The scripts list --------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, name="studio_scripts")
def scripts(
    request: Request, user: Session, config: ConfigDep, status: str | None = None
) -> HTMLResponse:
    if status is not None and status not in views.STATUSES:
        status = None
    with config.db.connect() as conn:
        listed = views.script_list(conn, status or None, user.actor.workspace_id)
    return page("scripts.html", request, scripts=listed, status=status, statuses=views.STATUSES)


# The editor ---------------------------------------------------------------------------------


def _editor(
    request: Request,
    config: ConfigDep,
    document: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    imported: str | None = None,
) -> HTMLResponse:
    return editor.render(
        request, config, document, errors=errors, status_code=status_code, imported=imported
    )


def _estimate(config: ConfigDep, document: dict[str, Any]) -> dict[str, Any]:
    """The cost estimate and budget check of `vsl scripts add`, or the problems in the way."""
    return editor.new_estimate(config.registry, document)


@router.get("/scripts/new", response_class=HTMLResponse, name="studio_new_script")
def new_script(request: Request, user: Session, config: ConfigDep) -> HTMLResponse:
    require_role(user.actor, Role.WRITER)
    return _editor(request, config, forms.new_document(config.registry))


@router.post("/scripts/new", response_model=None)
async def submit_script(
    request: Request, user: Session, fields: EditorFields, config: ConfigDep
) -> Response:
    """An editor post: a section operation or a refresh re-renders the editor, `export`
    downloads the YAML, `submit` stores the script (its generation starts) or shows each
    problem at its field; nothing is stored on a refusal."""
    form = forms.editor_document(checked_form(user, fields), config.registry)
    document = form.document
    require_role(user.actor, Role.WRITER)
    if form.op == "export":
        return editor.yaml_download(document, document.get("id") or "script")
    if form.op != "submit":
        return _editor(request, config, document)
    forms.script_id_for(document)
    try:
        added = await run_in_threadpool(
            add_script,
            config.db,
            document,
            config.registry,
            actor=user.actor,
            source=EDITOR_SOURCE,
        )
    except ScriptError as exc:
        errors = forms.field_errors(exc, document, config.registry)
        return _editor(request, config, document, errors, status_code=422)
    except ScriptExists as exc:
        return _editor(request, config, document, {"id": [str(exc)]}, status_code=409)
    log.info("studio script stored", extra={"script_id": added.script.id})
    return RedirectResponse(f"{STUDIO}/scripts/{added.script.id}", status_code=303)


@router.post("/scripts/estimate", response_class=HTMLResponse)
async def estimate(
    request: Request, user: Session, fields: EditorFields, config: ConfigDep
) -> HTMLResponse:
    """The live estimate of the editor's current fields (an htmx fragment)."""
    form = forms.editor_document(checked_form(user, fields), config.registry)
    return page("estimate.html", request, estimate=_estimate(config, form.document))


@router.post("/scripts/import", response_class=HTMLResponse)
async def import_yaml(
    request: Request, user: Session, fields: EditorFields, config: ConfigDep
) -> HTMLResponse:
    """A YAML script into the editor (not stored until submitted)."""
    checked_form(user, fields)
    text = fields.get("yaml", "")
    try:
        document = await run_in_threadpool(load_yaml, text, "yaml")
        if not isinstance(document, dict):
            raise ScriptError("yaml: a script must be a mapping with id, title and sections")
        check_document(document, "yaml")
    except (ScriptError, DocumentError) as exc:
        return page("import.html", request, status_code=422, text=text, errors={"yaml": [str(exc)]})
    return _editor(request, config, document, imported=text)


@router.get("/scripts/import", response_class=HTMLResponse)
def import_page(request: Request, user: Session) -> HTMLResponse:
    return page("import.html", request, text="", errors={})


# A script's page ----------------------------------------------------------------------------


def _script_page(
    config: ConfigDep, user: session.StudioSession, script_id: str
) -> views.ScriptPage:
    require_script(config.db, user.actor, script_id)
    with http_errors(), config.db.connect() as conn:
        return views.script_page(conn, config.media_store, script_id, config.registry)


@router.get("/scripts/{script_id}", response_class=HTMLResponse, name="studio_script")
def script(request: Request, user: Session, script_id: ScriptId, config: ConfigDep) -> HTMLResponse:
    return page("script.html", request, script=_script_page(config, user, script_id), notice=None)


@router.get("/scripts/{script_id}/live", response_class=HTMLResponse)
def live(request: Request, user: Session, script_id: ScriptId, config: ConfigDep) -> HTMLResponse:
    """The part of the script page that changes on its own (htmx polls it)."""
    return page("live.html", request, script=_script_page(config, user, script_id))


def _back(script_id: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{STUDIO}/scripts/{script_id}{anchor}", status_code=303)


@router.post("/scripts/{script_id}/sections/{section_id}/{decision}", response_model=None)
def decide(
    user: Session,
    script_id: ScriptId,
    section_id: SectionId,
    decision: str,
    fields: SmallForm,
    config: ConfigDep,
) -> Response:
    """Approve or reject the section's current take of its clip (a rejection may carry a
    prompt, seed) or, with `subject=narration`, of its narration (a rejection may carry the
    corrected words, `text`, and the voice parameters the form shows, e.g. `voice`, `speed`:
    those changed from the take's become its `params`)."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    require_script(config.db, user.actor, script_id)
    model: type[ApproveBody] | type[RejectBody]
    if decision == "approve":
        model, verdict = ApproveBody, "approved"
    elif decision == "reject":
        model, verdict = RejectBody, "rejected"
    else:
        raise HTTPException(404, f"no decision {decision[:40]!r}: approve or reject")
    seen = fields.pop("take", None)
    if seen is not None and not (seen.isdigit() and 0 < len(seen) <= 6):
        raise HTTPException(422, "form: take must be the number of the take shown")
    subject = fields.get("subject")
    if subject not in (None, "clip", "narration"):
        raise HTTPException(422, "form: subject must be clip or narration")
    body_fields: dict[str, Any] = dict(fields)
    if subject == "narration" and verdict == "rejected":
        params = changed_voice_params(
            config.db, config.registry, script_id, section_id, body_fields
        )
        if params:
            body_fields["params"] = params
    try:
        body = model.model_validate(body_fields)
    except ValidationError as exc:
        raise HTTPException(422, f"form: {validation_problems(exc, 'form')}") from None
    # The take the page showed: a newer one that arrived meanwhile is not decided unseen.
    record_decision(
        config.db,
        script_id,
        section_id,
        verdict,
        body,
        reviewer=user.actor.name,
        take=int(seen) if seen is not None else None,
    )
    return _back(script_id, f"#section-{section_id}")


@router.post("/scripts/{script_id}/retry", response_model=None)
def retry(user: Session, script_id: ScriptId, fields: SmallForm, config: ConfigDep) -> Response:
    checked_form(user, fields)
    require_role(user.actor, Role.WRITER)
    require_script(config.db, user.actor, script_id)
    with http_errors(), config.db.connect() as conn:
        try:
            retry_script(conn, script_id, user.actor.name)
        except NotFailed as exc:
            raise HTTPException(409, str(exc)) from None
    return _back(script_id)


@router.post("/scripts/{script_id}/compile", response_model=None)
def compile_again(
    user: Session, script_id: ScriptId, fields: SmallForm, config: ConfigDep
) -> Response:
    """Ask for a compile with the form's options (the API's compile request): those left as
    the script has them are not overridden, so a recompile keeps captions and the rest."""
    checked_form(user, fields)
    require_role(user.actor, Role.REVIEWER)
    require_script(config.db, user.actor, script_id)
    with http_errors(), config.db.connect() as conn:
        asked = recompile.compile_asked(fields, load_stored_script(conn, script_id).output)
        try:
            request_compile(
                conn,
                script_id,
                output_format=asked.output_format,
                quality=asked.quality,
                overrides=asked.overrides,
                requested_by=user.actor.name,
            )
        except (NotApproved, CompileInFlight) as exc:
            raise HTTPException(409, str(exc)) from None
    return _back(script_id, "#final")


@router.get("/scripts/{script_id}/compilations/{compilation_id}/download", response_model=None)
def download(
    user: Session,
    script_id: ScriptId,
    compilation_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    config: ConfigDep,
) -> Response:
    """A compiled video as a file download (a redirect to its URL from S3)."""
    require_script(config.db, user.actor, script_id)
    with config.db.connect() as conn:
        row = compilation_rows.compilation(conn, compilation_id)
    if (
        row is None
        or row.script_id != script_id
        or row.status != "succeeded"
        or row.output_key is None
    ):
        raise HTTPException(404, f"compilation {compilation_id} of {script_id!r} has no video")
    return video_download(
        config.media_store,
        row.output_key,
        filename_stem=f"{script_id}-{compilation_id}",
        missing="compiled video",
    )
