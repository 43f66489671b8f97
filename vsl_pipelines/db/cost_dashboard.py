"""What the cost dashboard reads: a workspace's jobs over a period, counted and priced as its
budget counts them (`db.budgets`), and the minutes of the videos it finished.

The services' `cost_dashboard` assembles a month from these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from vsl_pipelines.db.budgets import COST, COUNTED
from vsl_pipelines.db.connection import Conn, fetch_all, fetch_one, returned


@dataclass(frozen=True)
class SpendLine:
    """The counted jobs of one (UTC day, model, script, user): what they cost as the budget
    counts them (actual once known, else the estimate), and, of those whose actual cost is
    known ("settled"), the estimate beside the actual. Ad-hoc jobs have no script, script jobs
    no user."""

    day: date
    model_id: str
    script_id: str | None
    user_id: str | None
    jobs: int
    spent_usd: Decimal
    settled_jobs: int
    settled_estimated_usd: Decimal
    settled_actual_usd: Decimal


@dataclass(frozen=True)
class FinishedVideos:
    """Compilations that succeeded in a period, and their seconds of video."""

    videos: int
    seconds: float


def spend_lines(conn: Conn, workspace_id: int, start: datetime, end: datetime) -> list[SpendLine]:
    """The workspace's counted jobs created in [start, end), by day, model, script and user."""
    return fetch_all(
        conn,
        SpendLine,
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, model_id, script_id, user_id,"
        f" count(*) AS jobs, COALESCE(sum({COST}), 0) AS spent_usd,"
        " count(actual_cost_usd) AS settled_jobs,"
        " COALESCE(sum(estimated_cost_usd) FILTER (WHERE actual_cost_usd IS NOT NULL), 0)"
        "  AS settled_estimated_usd,"
        " COALESCE(sum(actual_cost_usd), 0) AS settled_actual_usd"
        " FROM jobs WHERE workspace_id = %s AND created_at >= %s AND created_at < %s"
        f" AND {COUNTED}"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        (workspace_id, start, end),
    )


def finished_videos(
    conn: Conn, workspace_id: int, start: datetime, end: datetime
) -> FinishedVideos:
    """The workspace's compilations that succeeded in [start, end) and their total duration."""
    return returned(
        fetch_one(
            conn,
            FinishedVideos,
            "SELECT count(*) AS videos, COALESCE(sum(c.duration_s), 0) AS seconds"
            " FROM compilations c JOIN scripts s ON s.id = c.script_id"
            " WHERE s.workspace_id = %s AND c.status = 'succeeded'"
            " AND c.completed_at >= %s AND c.completed_at < %s",
            (workspace_id, start, end),
        )
    )
