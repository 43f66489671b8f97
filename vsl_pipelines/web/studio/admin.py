"""The studio's admin page (`/studio/admin`, the workspace's admins): members and their roles,
API keys (a new key shown once, revoke), the monthly budget beside this month's spend, the
notification webhook (shown by its host only: its path is a secret), and the audit log. Each change goes through the same services as `vsl members` and `vsl keys`, and
lands in the audit log with the admin's name."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import audit
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.api_keys import KeyNameTaken, KeyRow
from vsl_pipelines.db.audit import AuditEntry
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.workspaces import Membership, WorkspaceRow
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.costs import cost_report
from vsl_pipelines.services.keys import KeyRefused, create_key, list_keys, parse_rate, revoke_key
from vsl_pipelines.services.notifications import (
    NotificationRefused,
    set_notification_url,
    url_host,
)
from vsl_pipelines.services.workspaces import (
    WorkspaceRefused,
    remove_member,
    set_budget,
    set_member,
)
from vsl_pipelines.web.access import require_role
from vsl_pipelines.web.deps import ConfigDep, check_host
from vsl_pipelines.web.studio.pages import STUDIO, StudioRoute, page
from vsl_pipelines.web.studio.routes import Session, SmallForm, checked_form, same_site_writes

router = APIRouter(
    route_class=StudioRoute,
    dependencies=[Depends(check_host), Depends(same_site_writes)],
    include_in_schema=False,
)
ADMIN = f"{STUDIO}/admin"


@dataclass(frozen=True)
class AdminPage:
    workspace: WorkspaceRow
    members: list[Membership]
    keys: list[KeyRow]
    spent_this_month_usd: float
    audit: list[AuditEntry]
    notification_host: str | None = None  # where notifications go (the URL is a secret)


def _admin_page(config: ConfigDep, workspace_id: int) -> AdminPage:
    today = datetime.now(UTC).date()
    spent = cost_report(config.db, today.replace(day=1), today, workspace_id)
    with config.db.connect() as conn:
        notify = workspace_rows.notification_url(conn, workspace_id)
        return AdminPage(
            notification_host=url_host(notify) if notify else None,
            workspace=workspace_rows.workspace_by_id(conn, workspace_id),
            members=workspace_rows.members_of(conn, workspace_id),
            keys=[k for k in list_keys(config.db, workspace_id) if k.revoked_at is None],
            spent_this_month_usd=float(spent["spent_usd"]),  # as the budget counts it
            audit=audit.entries(conn, workspace_id, limit=100),
        )


async def _render(
    request: Request,
    user: Session,
    config: ConfigDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    new_key: str | None = None,
) -> HTMLResponse:
    admin = await run_in_threadpool(_admin_page, config, user.actor.workspace_id)
    return page(
        "admin.html",
        request,
        status_code=status_code,
        admin=admin,
        roles=[r.value for r in Role],
        error=error,
        new_key=new_key,
    )


@router.get("", response_class=HTMLResponse, name="studio_admin")
async def admin_page(request: Request, user: Session, config: ConfigDep) -> HTMLResponse:
    require_role(user.actor, Role.ADMIN)
    return await _render(request, user, config)


def _role(fields: dict[str, str]) -> Role:
    try:
        return Role.parse(fields.get("role", ""))
    except ValueError as exc:
        raise HTTPException(422, f"form: {exc}") from None


async def _change_workspace(
    request: Request,
    user: Session,
    config: ConfigDep,
    anchor: str,
    change: Callable[[Conn, WorkspaceRow], object],
    back: str | None = None,
) -> Response:
    """Run an admin's change of the workspace in one transaction; the page again with the
    refusal at the top (422), or back to its section (or to `back`)."""

    def run() -> None:
        with config.db.connect() as conn:
            change(conn, workspace_rows.workspace_by_id(conn, user.actor.workspace_id))

    try:
        await run_in_threadpool(run)
    except (WorkspaceRefused, NotificationRefused) as exc:
        return await _render(request, user, config, status_code=422, error=str(exc))
    return RedirectResponse(back or f"{ADMIN}#{anchor}", status_code=303)


def _admin_form(user: Session, fields: dict[str, str]) -> None:
    checked_form(user, fields)
    require_role(user.actor, Role.ADMIN)


@router.post("/members", response_model=None)
async def add_member(
    request: Request, user: Session, fields: SmallForm, config: ConfigDep
) -> Response:
    """Make an email a member with a role (or change a member's role)."""
    _admin_form(user, fields)
    role = _role(fields)
    email = fields.get("email", "")
    return await _change_workspace(
        request,
        user,
        config,
        "members",
        lambda conn, workspace: set_member(conn, workspace, email, role, user.actor.name),
    )


@router.post("/members/remove", response_model=None)
async def drop_member(
    request: Request, user: Session, fields: SmallForm, config: ConfigDep
) -> Response:
    _admin_form(user, fields)
    email = fields.get("email", "")
    return await _change_workspace(
        request,
        user,
        config,
        "members",
        lambda conn, workspace: remove_member(conn, workspace, email, user.actor.name),
    )


@router.post("/keys", response_class=HTMLResponse)
async def new_key(
    request: Request, user: Session, fields: SmallForm, config: ConfigDep
) -> HTMLResponse:
    """Make a key of this workspace; the page shows it this once."""
    _admin_form(user, fields)
    role = _role(fields)

    def make() -> str:
        with config.db.connect() as conn:
            slug = workspace_rows.workspace_by_id(conn, user.actor.workspace_id).slug
        _, key = create_key(
            config.db,
            fields.get("name", ""),
            workspace=slug,
            role=role,
            user_id=fields.get("user") or None,
            rate_per_minute=parse_rate(fields.get("rate") or "60"),
            actor=user.actor.name,
        )
        return key

    try:
        key = await run_in_threadpool(make)
    except (KeyRefused, KeyNameTaken) as exc:
        return await _render(request, user, config, status_code=422, error=str(exc))
    return await _render(request, user, config, new_key=key)


@router.post("/keys/revoke", response_model=None)
async def revoke(request: Request, user: Session, fields: SmallForm, config: ConfigDep) -> Response:
    _admin_form(user, fields)
    try:
        await run_in_threadpool(
            revoke_key,
            config.db,
            fields.get("name", ""),
            config.key_cache,
            user.actor.workspace_id,
            user.actor.name,
        )
    except KeyRefused as exc:
        return await _render(request, user, config, status_code=422, error=str(exc))
    return RedirectResponse(f"{ADMIN}#keys", status_code=303)


@router.post("/budget", response_model=None)
async def budget(request: Request, user: Session, fields: SmallForm, config: ConfigDep) -> Response:
    """The workspace's monthly budget (empty: none); from the cost dashboard (`back=costs`),
    back to it."""
    _admin_form(user, fields)
    back = f"{STUDIO}/costs#budget" if fields.get("back") == "costs" else None
    text = fields.get("monthly_budget", "").strip()
    try:
        amount = float(text) if text else None
    except ValueError:
        amount = math.nan
    if amount is not None and not math.isfinite(amount):
        return await _render(
            request, user, config, status_code=422, error="monthly budget: a number of USD"
        )
    return await _change_workspace(
        request,
        user,
        config,
        "budget",
        lambda conn, workspace: set_budget(conn, workspace, amount, user.actor.name),
        back,
    )


@router.post("/notifications", response_model=None)
async def notifications(
    request: Request, user: Session, fields: SmallForm, config: ConfigDep
) -> Response:
    """The workspace's notification webhook URL (http or https; empty: none): told when
    decisions wait and when a video is ready."""
    _admin_form(user, fields)
    url = fields.get("webhook_url", "")
    return await _change_workspace(
        request,
        user,
        config,
        "notifications",
        lambda conn, workspace: set_notification_url(conn, workspace, url, user.actor.name),
    )
