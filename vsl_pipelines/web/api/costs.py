"""`/api/costs`: what generation cost over a period of UTC days, in total and grouped by model,
script, user or day (the figures of the daily `cost_report` asset); `/api/costs/dashboard`: a
month of it as the studio's cost dashboard draws it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.services.cost_dashboard import BadMonth, month_dashboard, parse_month
from vsl_pipelines.services.costs import cost_report
from vsl_pipelines.web.access import Viewer
from vsl_pipelines.web.deps import ConfigDep

MAX_DAYS = 366
DEFAULT_DAYS = 7

router = APIRouter()


def _camel(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "jobs": figures["jobs"],
        "succeeded": figures["succeeded"],
        "failed": figures["failed"],
        "estimatedUsd": figures["estimated_usd"],
        "actualUsd": figures["actual_usd"],
        "spentUsd": figures["spent_usd"],
        "billedJobs": figures["billed_jobs"],
        "billedOverEstimate": figures["billed_over_estimate"],
    }


@router.get("/costs")
async def costs(
    actor: Viewer,
    config: ConfigDep,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    group_by: Annotated[Literal["model", "script", "user", "day"], Query(alias="groupBy")] = "day",
) -> dict[str, Any]:
    """Totals for `from`..`to` (UTC days, both included; default the last 7 days) and the same
    figures by `groupBy`, for the caller's workspace."""
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise HTTPException(422, f"query from: {first} is after to ({last})")
    if (last - first).days >= MAX_DAYS:
        raise HTTPException(422, f"query from/to: at most {MAX_DAYS} days at once")
    report = await run_in_threadpool(cost_report, config.db, first, last, actor.workspace_id)
    return {
        "from": report["from"],
        "to": report["to"],
        "groupBy": group_by,
        "total": _camel(report),
        "groups": {name: _camel(f) for name, f in report[f"by_{group_by}"].items()},
        # Models whose billed costs are more than 25% off their estimates: actual / estimate.
        "estimatesOff": report["estimates_off"],
    }


class DaySpend(BaseModel):
    day: date
    spentUsd: float
    cumulativeUsd: float | None = Field(
        description="the month's spend at the day's end; null for a day to come"
    )
    projectedUsd: float | None = Field(
        description="the projection at the day's end, from today on (current month)"
    )


class ModelSpend(BaseModel):
    modelId: str
    jobs: int
    spentUsd: float
    settledJobs: int = Field(description="jobs whose actual cost is known")
    estimatedUsd: float = Field(description="the settled jobs' estimates")
    actualUsd: float = Field(description="the settled jobs' actual cost")
    actualOverEstimate: float | None = Field(description="actualUsd / estimatedUsd (1: right)")


class GroupSpend(BaseModel):
    name: str
    jobs: int
    spentUsd: float


class CostDashboard(BaseModel):
    """A month of the workspace's spending: jobs count at their actual cost once known, else at
    their estimate (as its budget counts them); a prediction never created costs nothing."""

    month: str
    asOf: date
    workspace: str
    budgetUsd: float | None
    jobs: int
    spentUsd: float
    overBudget: bool
    projectedUsd: float | None = Field(
        description="spentUsd x daysInMonth / daysBegun; a past month's spend; null for a month to come"
    )
    projectedOverBudget: bool
    daysInMonth: int
    daysBegun: int
    finishedVideos: int
    finishedMinutes: float
    costPerFinishedMinuteUsd: float | None
    days: list[DaySpend]
    byModel: list[ModelSpend]
    byScript: list[GroupSpend]
    byUser: list[GroupSpend]


@router.get("/costs/dashboard")
async def cost_dashboard(
    actor: Viewer,
    config: ConfigDep,
    month: Annotated[
        str | None, Query(max_length=16, description="YYYY-MM (UTC); default this month")
    ] = None,
) -> CostDashboard:
    """The caller's workspace's month: spend per day against the budget and projected to the
    month's end, by model (with its estimates against its actual costs), script and user, and
    the cost of a finished video minute."""
    try:
        first = parse_month(month) if month is not None else datetime.now(UTC).date()
    except BadMonth as exc:
        raise HTTPException(422, f"query month: {exc}") from None
    dash = await run_in_threadpool(month_dashboard, config.db, actor.workspace_id, first)
    return CostDashboard(
        month=f"{dash.month:%Y-%m}",
        asOf=dash.as_of,
        workspace=dash.workspace_slug,
        budgetUsd=dash.budget_usd,
        jobs=dash.jobs,
        spentUsd=dash.spent_usd,
        overBudget=dash.over_budget,
        projectedUsd=dash.projected_usd,
        projectedOverBudget=dash.projected_over_budget,
        daysInMonth=dash.days_in_month,
        daysBegun=dash.days_begun,
        finishedVideos=dash.finished_videos,
        finishedMinutes=dash.finished_minutes,
        costPerFinishedMinuteUsd=dash.cost_per_finished_minute_usd,
        days=[
            DaySpend(
                day=d.day,
                spentUsd=d.spent_usd,
                cumulativeUsd=d.cumulative_usd,
                projectedUsd=d.projected_usd,
            )
            for d in dash.days
        ],
        byModel=[
            ModelSpend(
                modelId=m.model_id,
                jobs=m.jobs,
                spentUsd=m.spent_usd,
                settledJobs=m.settled_jobs,
                estimatedUsd=m.estimated_usd,
                actualUsd=m.actual_usd,
                actualOverEstimate=m.actual_over_estimate,
            )
            for m in dash.by_model
        ],
        byScript=[
            GroupSpend(name=g.name, jobs=g.jobs, spentUsd=g.spent_usd) for g in dash.by_script
        ],
        byUser=[GroupSpend(name=g.name, jobs=g.jobs, spentUsd=g.spent_usd) for g in dash.by_user],
    )
