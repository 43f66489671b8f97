"""Cost analytics: what generation cost over a period, in total and by model, script, user or
day; ad-hoc generations count under the script `(ad-hoc)`, script jobs under the user
`(scripts)`.

One query over the jobs table (`db.costs`); the daily `cost_report` asset and `vsl costs` read
the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any, Literal

from vsl_pipelines.db import costs as cost_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.days import day_bounds

GroupBy = Literal["model", "script", "user", "day"]
GROUP_COLUMN = {"model": "model_id", "script": "script_id", "user": "user_id", "day": "day"}
NO_SCRIPT = "(ad-hoc)"
NO_USER = "(scripts)"
_MISSING = {"script": NO_SCRIPT, "user": NO_USER}


def cost_report(db: Database, first: date, last: date) -> dict[str, Any]:
    """Totals for the days `first`..`last` (UTC), and the same figures by model, script, user
    and day."""
    start, end = day_bounds(first, last)
    with db.connect() as conn:
        rows = cost_rows.costs_between(conn, start, end)
    report: dict[str, Any] = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        **_figures(rows),
    }
    for group in ("model", "script", "user", "day"):
        buckets: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            value = row[GROUP_COLUMN[group]]
            buckets[_MISSING[group] if value is None else str(value)].append(row)
        report[f"by_{group}"] = {name: _figures(part) for name, part in sorted(buckets.items())}
    return report


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "jobs": sum(int(r["jobs"]) for r in rows),
        "succeeded": sum(int(r["succeeded"]) for r in rows),
        "failed": sum(int(r["failed"]) for r in rows),
        "estimated_usd": round(sum(float(r["estimated_usd"]) for r in rows), 4),
        "actual_usd": round(sum(float(r["actual_usd"]) for r in rows), 4),
    }
