"""`/api/costs`: what generation cost over a period of UTC days, in total and grouped by model,
script, user or day (the figures of the daily `cost_report` asset)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool

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
    }
