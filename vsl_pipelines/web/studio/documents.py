"""A stored script as a document in the studio: edited in the editor into its next version
(a confirmation shows which sections regenerate and what that costs before anything is spent),
duplicated under another id, its version history, its YAML as its current takes were made and
each saved version's YAML. Writers edit and duplicate; every member reads. Another workspace's
script is a 404, as an unknown one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db.scripts import ScriptExists, ScriptNotFound
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import ScriptError
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services import script_versions
from vsl_pipelines.services.script_versions import ScriptBusy, VersionConflict
from vsl_pipelines.web.access import require_role
from vsl_pipelines.web.deps import ApiConfig, ConfigDep, ScriptId, check_host
from vsl_pipelines.web.errors import http_errors
from vsl_pipelines.web.studio import editor, forms
from vsl_pipelines.web.studio.pages import STUDIO, StudioRoute, page
from vsl_pipelines.web.studio.routes import (
    EditorFields,
    Session,
    SmallForm,
    checked_form,
    same_site_writes,
)
from vsl_pipelines.web.studio.session import StudioSession

log = get_logger("vsl_pipelines.web.studio")

router = APIRouter(
    route_class=StudioRoute,
    dependencies=[Depends(check_host), Depends(same_site_writes)],
    include_in_schema=False,
)
DUPLICATE_SOURCE = "duplicate"
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
T = TypeVar("T")


def _base_version(fields: dict[str, str]) -> int:
    """The version the editor was opened at (the edit is refused if another was saved since)."""
    value = fields.pop("base", "")
    if not (value.isdigit() and 0 < len(value) <= 9):
        raise HTTPException(422, "form: base must be the number of the version being edited")
    return int(value)


# Editing ------------------------------------------------------------------------------------

EDIT_REFUSALS = (ScriptError, VersionConflict, ScriptBusy)


async def _edit(
    service: Callable[..., T],
    config: ApiConfig,
    user: StudioSession,
    script_id: str,
    document: dict[str, Any],
    base: int,
) -> T:
    """An edit planned (`preview_edit`) or saved (`save_edit`) by the user over version `base`;
    an unknown script (or another workspace's) is a 404, other refusals are raised for
    `_refused`."""
    try:
        return await run_in_threadpool(
            service,
            config.db,
            script_id,
            document,
            config.registry,
            actor=user.actor,
            base_version=base,
            source=editor.EDITOR_SOURCE,
        )
    except ScriptNotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _refused(
    request: Request,
    config: ApiConfig,
    document: dict[str, Any],
    mode: editor.EditorMode,
    exc: Exception,
    *,
    at_fields: bool,
) -> HTMLResponse:
    """The editor again with why the edit was refused: the script's problems (422) or a
    version saved meanwhile or a compile running (409), at their fields when the person asked
    to go on (`at_fields`); a refresh only lists them with the estimate (200)."""
    if isinstance(exc, ScriptError):
        errors = forms.field_errors(exc, document, config.registry)
        problems = forms.problem_texts(exc, document, config.registry)
        status = 422
    else:
        errors, problems, status = {"script": [str(exc)]}, [str(exc)], 409
    return editor.render(
        request, config, document, mode=mode, errors=errors if at_fields else {},
        status_code=status if at_fields else 200,
        estimate={"edit": True, "problems": problems},
    )  # fmt: skip


@router.get("/scripts/{script_id}/edit", response_class=HTMLResponse, name="studio_edit_script")
async def edit_page(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """The editor holding the script as its current takes were made (a reviewer's new prompt
    included), to be saved as its next version."""
    require_role(user.actor, Role.WRITER)
    with http_errors():
        document, version = await run_in_threadpool(
            script_versions.editable_document, config.db, script_id, actor=user.actor
        )
    mode = editor.edit_mode(script_id, version, str(document.get("title", "")))
    estimate = await run_in_threadpool(editor.edit_estimate, config, user.actor, mode, document)
    return editor.render(request, config, document, mode=mode, estimate=estimate)


@router.post("/scripts/{script_id}/edit", response_model=None)
async def edit_post(
    request: Request, user: Session, script_id: ScriptId, fields: EditorFields, config: ConfigDep
) -> Response:
    """An edit's post: a section operation or a refresh re-renders the editor, `export`
    downloads the YAML, `submit` shows the confirmation (what regenerates, its cost) or each
    problem at its field. Nothing is saved here."""
    fields = checked_form(user, fields)
    require_role(user.actor, Role.WRITER)
    base = _base_version(fields)
    form = forms.editor_document(fields, config.registry)
    document = form.document
    mode = editor.edit_mode(script_id, base, str(document.get("title", "")))
    if form.op == "export":
        return editor.yaml_download(document, script_id)
    try:
        plan = await _edit(script_versions.preview_edit, config, user, script_id, document, base)
    except EDIT_REFUSALS as exc:
        return _refused(request, config, document, mode, exc, at_fields=form.op == "submit")
    estimate = {"edit": True, "problems": [], **editor.plan_view(plan)}
    if form.op != "submit":
        return editor.render(request, config, document, mode=mode, estimate=estimate)
    return page(
        "confirm_edit.html",
        request,
        mode=mode,
        plan=estimate,
        version=base + 1,
        document=json.dumps(document, separators=(",", ":")),
        title=plan.script.title,
    )


@router.post("/scripts/{script_id}/edit/estimate", response_class=HTMLResponse)
async def edit_estimate(
    request: Request, user: Session, script_id: ScriptId, fields: EditorFields, config: ConfigDep
) -> HTMLResponse:
    """The live estimate of an edit: the sections it regenerates and their cost (htmx)."""
    fields = checked_form(user, fields)
    require_role(user.actor, Role.WRITER)
    base = _base_version(fields)
    form = forms.editor_document(fields, config.registry)
    mode = editor.edit_mode(script_id, base, "")
    with http_errors():
        estimate = await run_in_threadpool(
            editor.edit_estimate, config, user.actor, mode, form.document
        )
    return page("estimate.html", request, estimate=estimate)


@router.post("/scripts/{script_id}/edit/confirm", response_model=None)
async def edit_confirm(
    request: Request, user: Session, script_id: ScriptId, fields: EditorFields, config: ConfigDep
) -> Response:
    """The confirmation's answer: `save` stores the next version (and asks for the new takes),
    `back` returns to the editor with the same fields."""
    fields = checked_form(user, fields)
    require_role(user.actor, Role.WRITER)
    base = _base_version(fields)
    try:
        document = json.loads(fields.get("document", ""))
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise HTTPException(422, "form: document must be the edited script") from None
    if not isinstance(document, dict):
        raise HTTPException(422, "form: document must be the edited script")
    mode = editor.edit_mode(script_id, base, str(document.get("title", "")))
    if fields.get("op") == "back":
        estimate = await run_in_threadpool(editor.edit_estimate, config, user.actor, mode, document)
        return editor.render(request, config, document, mode=mode, estimate=estimate)
    try:
        saved = await _edit(script_versions.save_edit, config, user, script_id, document, base)
    except EDIT_REFUSALS as exc:
        return _refused(request, config, document, mode, exc, at_fields=True)
    log.info(
        "studio script edited",
        extra={
            "script_id": script_id,
            "fields": {"version": saved.version, **saved.plan.summary()},
        },
    )
    return RedirectResponse(f"{STUDIO}/scripts/{script_id}", status_code=303)


# Duplicating --------------------------------------------------------------------------------


def _duplicate_page(
    request: Request,
    script_id: str,
    title: str,
    *,
    new_id: str = "",
    new_title: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        "duplicate.html",
        request,
        status_code=status_code,
        script_id=script_id,
        title=title,
        new_id=new_id,
        new_title=new_title or title,
        errors=errors or {},
    )


@router.get("/scripts/{script_id}/duplicate", response_class=HTMLResponse)
async def duplicate_page(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    require_role(user.actor, Role.WRITER)
    with http_errors():
        document, _ = await run_in_threadpool(
            script_versions.duplicate_document, config.db, script_id, actor=user.actor
        )
    title = str(document.get("title", ""))
    return _duplicate_page(request, script_id, title, new_id=f"{script_id}-copy"[:63])


@router.post("/scripts/{script_id}/duplicate", response_model=None)
async def duplicate(
    request: Request, user: Session, script_id: ScriptId, fields: SmallForm, config: ConfigDep
) -> Response:
    """`create` stores the copy under the id given (it is queued as a new script is); `edit`
    opens the copy in the new-script editor instead, nothing stored."""
    fields = checked_form(user, fields)
    require_role(user.actor, Role.WRITER)
    new_id = fields.get("id", "")
    new_title = fields.get("title")
    with http_errors():
        document, _ = await run_in_threadpool(
            script_versions.duplicate_document,
            config.db,
            script_id,
            actor=user.actor,
            new_id=new_id,
            title=new_title,
        )
    title = str(document.get("title", ""))
    if fields.get("op") == "edit":
        return editor.render(request, config, document)
    if not new_id:
        return _duplicate_page(
            request, script_id, title, new_title=new_title or "",
            errors={"id": ["Id of the copy: give it an id of its own"]}, status_code=422,
        )  # fmt: skip
    try:
        added = await run_in_threadpool(
            script_versions.duplicate_script,
            config.db,
            script_id,
            new_id,
            config.registry,
            actor=user.actor,
            title=new_title,
            source=DUPLICATE_SOURCE,
        )
    except ScriptError as exc:
        errors = forms.field_errors(exc, document, config.registry)
        shown = {key: v for key, v in errors.items() if key in ("id", "title")}
        if len(shown) < len(errors):
            shown["script"] = [m for key, v in errors.items() if key not in shown for m in v]
        return _duplicate_page(
            request, script_id, title, new_id=new_id, new_title=new_title or "",
            errors=shown, status_code=422,
        )  # fmt: skip
    except ScriptExists as exc:
        return _duplicate_page(
            request, script_id, title, new_id=new_id, new_title=new_title or "",
            errors={"id": [f"Id of the copy: {exc}"]}, status_code=409,
        )  # fmt: skip
    log.info(
        "studio script duplicated",
        extra={"script_id": added.script.id, "fields": {"from": script_id}},
    )
    return RedirectResponse(f"{STUDIO}/scripts/{added.script.id}", status_code=303)


# History and YAML ---------------------------------------------------------------------------


@router.get("/scripts/{script_id}/history", response_class=HTMLResponse)
async def history(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """Who saved which version when, and what each save regenerated."""
    with http_errors():
        versions = await run_in_threadpool(
            script_versions.history, config.db, script_id, actor=user.actor
        )
    title = str(versions[0].document.get("title", script_id)) if versions else script_id
    return page(
        "history.html",
        request,
        script_id=script_id,
        title=title,
        versions=versions,
        may_edit=user.actor.may(Role.WRITER),
    )


@router.get("/scripts/{script_id}/script.yaml", response_model=None)
async def export_yaml(user: Session, script_id: ScriptId, config: ConfigDep) -> Response:
    """The script as its current takes were made: the prompts, parameters and seeds of the
    takes under review or approved, so an import makes the same media again."""
    with http_errors():
        document = await run_in_threadpool(
            script_versions.export_document, config.db, script_id, actor=user.actor
        )
    return editor.yaml_download(document, script_id)


@router.get("/scripts/{script_id}/versions/{version}/script.yaml", response_model=None)
async def version_yaml(
    user: Session, script_id: ScriptId, version: Version, config: ConfigDep
) -> Response:
    """A saved version's document, as it was saved."""
    with http_errors():
        row = await run_in_threadpool(
            script_versions.stored_version, config.db, script_id, version, actor=user.actor
        )
    if row is None:
        raise HTTPException(404, f"script {script_id!r} has no version {version}")
    return editor.yaml_download(dict(row.document), f"{script_id}-v{version}")
