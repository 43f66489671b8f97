"""What generation cost, from the `jobs` table: every prediction created counts at its
estimate; `actual_cost_usd` is set when its output is collected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

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
    actual_usd: Decimal
    succeeded: int
    failed: int


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
        " count(*) FILTER (WHERE status IN ('failed', 'canceled', 'aborted', 'expired')) AS failed"
        " FROM jobs WHERE created_at >= %s AND created_at < %s AND status <> 'creating'"
        " AND (%s::bigint IS NULL OR workspace_id = %s)"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        (start, end, workspace_id, workspace_id),
    )
