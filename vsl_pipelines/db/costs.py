"""What generation cost, from the `jobs` table: every prediction created counts at its
estimate; `actual_cost_usd` is set when its output is collected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vsl_pipelines.db.connection import Conn


def costs_between(conn: Conn, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per (day, model, script, user) in [start, end): predictions, estimated and actual USD.
    Ad-hoc jobs have no script, script jobs no user."""
    return conn.execute(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, model_id, script_id, user_id,"
        " count(*) AS jobs, sum(estimated_cost_usd) AS estimated_usd,"
        " coalesce(sum(actual_cost_usd), 0) AS actual_usd,"
        " count(*) FILTER (WHERE status = 'succeeded') AS succeeded,"
        " count(*) FILTER (WHERE status IN ('failed', 'canceled', 'aborted', 'expired')) AS failed"
        " FROM jobs WHERE created_at >= %s AND created_at < %s AND status <> 'creating'"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        (start, end),
    ).fetchall()
