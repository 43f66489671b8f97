"""What generation cost, from the `jobs` table: estimates, what Replicate billed for the
predictions that ended (`cost_source = 'billed'`), and what counts against budgets (the
actual cost once known, else the estimate; nothing for a prediction never created)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from vsl_pipelines.db.budgets import COST, COUNTED
from vsl_pipelines.db.connection import Conn, fetch_all


@dataclass(frozen=True)
class CostLine:
    """Predictions of one (day, model, script, user) and what they cost. Ad-hoc jobs have no
    script, script jobs no user."""

    day: date
    model_id: str
    script_id: str | None
    user_id: str | None
    jobs: int
    estimated_usd: Decimal
    actual_usd: Decimal  # of the jobs whose actual cost is known
    succeeded: int
    failed: int
    spent_usd: Decimal  # what budgets count
    billed_jobs: int  # jobs priced from Replicate's figures ...
    billed_usd: Decimal  # ... what they cost ...
    billed_estimated_usd: Decimal  # ... and what they were estimated at


def costs_between(
    conn: Conn, start: datetime, end: datetime, workspace_id: int | None = None
) -> list[CostLine]:
    """The cost lines of [start, end) (of a workspace, when given), by day, model, script and
    user."""
    return fetch_all(
        conn,
        CostLine,
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, model_id, script_id, user_id,"
        " count(*) AS jobs, sum(estimated_cost_usd) AS estimated_usd,"
        " coalesce(sum(actual_cost_usd), 0) AS actual_usd,"
        " count(*) FILTER (WHERE status = 'succeeded') AS succeeded,"
        " count(*) FILTER (WHERE status IN ('failed', 'canceled', 'aborted', 'expired')) AS failed,"
        f" coalesce(sum({COST}) FILTER (WHERE {COUNTED}), 0) AS spent_usd,"
        " count(*) FILTER (WHERE cost_source = 'billed') AS billed_jobs,"
        " coalesce(sum(actual_cost_usd) FILTER (WHERE cost_source = 'billed'), 0) AS billed_usd,"
        " coalesce(sum(estimated_cost_usd) FILTER (WHERE cost_source = 'billed'), 0)"
        "  AS billed_estimated_usd"
        " FROM jobs WHERE created_at >= %s AND created_at < %s AND status <> 'creating'"
        " AND (%s::bigint IS NULL OR workspace_id = %s)"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        (start, end, workspace_id, workspace_id),
    )
