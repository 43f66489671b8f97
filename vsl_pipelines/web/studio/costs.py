"""The studio's cost dashboard (`/studio/costs`, viewers and above, their workspace): a month's
spend per day against the budget with its projection, by model, script and user, the estimates
against the actual costs, and the cost of a finished video minute; each chart with its numbers
as a table. The figures are `GET /api/costs/dashboard`'s (`services.cost_dashboard`); admins
also get the admin page's budget form, which posts to the admin's route and comes back here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.cost_dashboard import BadMonth, month_dashboard, parse_month
from vsl_pipelines.web.access import require_role
from vsl_pipelines.web.deps import ConfigDep, check_host
from vsl_pipelines.web.studio import charts
from vsl_pipelines.web.studio.pages import StudioRoute, page
from vsl_pipelines.web.studio.routes import Session

router = APIRouter(
    route_class=StudioRoute, dependencies=[Depends(check_host)], include_in_schema=False
)


def _neighbours(month: date) -> tuple[date, date]:
    """The months before and after `month` (a first day)."""
    return (month - timedelta(days=1)).replace(day=1), (month + timedelta(days=31)).replace(day=1)


@router.get("", response_class=HTMLResponse, name="studio_costs")
async def cost_dashboard(
    request: Request, user: Session, config: ConfigDep, month: str | None = None
) -> HTMLResponse:
    """A month (`?month=YYYY-MM`, default this one, UTC) of the workspace's costs."""
    require_role(user.actor, Role.VIEWER)
    try:
        first = parse_month(month) if month else datetime.now(UTC).date()
    except BadMonth as exc:
        raise HTTPException(422, f"month: {exc}") from None
    dashboard = await run_in_threadpool(month_dashboard, config.db, user.actor.workspace_id, first)
    previous, following = _neighbours(dashboard.month)
    return page(
        "costs.html",
        request,
        dash=dashboard,
        charts={
            "month": charts.spend_over_the_month(dashboard),
            "model": charts.spend_by(dashboard.by_model, "model"),
            "estimates": charts.estimates_against_actuals(dashboard.by_model),
            "script": charts.spend_by(dashboard.by_script, "script"),
            "user": charts.spend_by(dashboard.by_user, "user or key"),
        },
        previous=previous,
        following=following if following <= dashboard.as_of else None,
        may_budget=user.actor.may(Role.ADMIN),
    )
