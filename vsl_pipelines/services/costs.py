"""Cost analytics: what generation cost over a period, in total and by model, script, user or
day; ad-hoc generations count under the script `(ad-hoc)`, script jobs under the user
`(scripts)`. Models whose billed costs stray more than 25% from their estimates are flagged.

One query over the jobs table (`db.costs`); the daily `cost_report` asset and `vsl costs` read
the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any, Literal

from vsl_pipelines.db import costs as cost_rows
from vsl_pipelines.db.costs import CostLine
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.days import day_bounds

GroupBy = Literal["model", "script", "user", "day"]
# A model whose billed cost is further than this from its estimates is flagged (`estimates_off`).
ESTIMATE_TOLERANCE = 0.25
NO_SCRIPT = "(ad-hoc)"
NO_USER = "(scripts)"
_MISSING = {"script": NO_SCRIPT, "user": NO_USER}


def cost_report(
    db: Database, first: date, last: date, workspace_id: int | None = None
) -> dict[str, Any]:
    """Totals for the days `first`..`last` (UTC), and the same figures by model, script, user
    and day; of every workspace, or of one."""
    start, end = day_bounds(first, last)
    with db.connect() as conn:
        rows = cost_rows.costs_between(conn, start, end, workspace_id)
    report: dict[str, Any] = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        **_figures(rows),
    }
    groups: tuple[GroupBy, ...] = ("model", "script", "user", "day")
    for group in groups:
        buckets: dict[str, list[CostLine]] = defaultdict(list)
        for row in rows:
            value = _group_value(row, group)
            buckets[_MISSING[group] if value is None else str(value)].append(row)
        report[f"by_{group}"] = {name: _figures(part) for name, part in sorted(buckets.items())}
    report["estimates_off"] = {
        model: figures["billed_over_estimate"]
        for model, figures in report["by_model"].items()
        if figures["billed_over_estimate"] is not None
        and abs(figures["billed_over_estimate"] - 1) > ESTIMATE_TOLERANCE
    }
    return report


def _group_value(row: CostLine, group: GroupBy) -> object:
    if group == "model":
        return row.model_id
    if group == "script":
        return row.script_id
    if group == "user":
        return row.user_id
    return row.day


def _figures(rows: list[CostLine]) -> dict[str, Any]:
    """Counts and sums of cost lines. `spent_usd` is what budgets count (actual where known,
    else the estimate); `billed_over_estimate` compares the billed jobs' actual cost with their
    own estimates (None before any was billed)."""
    billed = sum(float(r.billed_usd) for r in rows)
    billed_estimated = sum(float(r.billed_estimated_usd) for r in rows)
    return {
        "jobs": sum(r.jobs for r in rows),
        "succeeded": sum(r.succeeded for r in rows),
        "failed": sum(r.failed for r in rows),
        "estimated_usd": round(sum(float(r.estimated_usd) for r in rows), 6),
        "actual_usd": round(sum(float(r.actual_usd) for r in rows), 6),
        "spent_usd": round(sum(float(r.spent_usd) for r in rows), 6),
        "billed_jobs": sum(r.billed_jobs for r in rows),
        "billed_over_estimate": round(billed / billed_estimated, 4) if billed_estimated else None,
    }
