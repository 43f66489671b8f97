"""One month of a workspace's spending, as the cost dashboard shows it (`GET /api/costs/dashboard`
and the studio's `/studio/costs`): per day against the budget, by model, script and user, how
good the estimates were, what a finished video minute cost and where the month is heading.

Jobs count as the budget counts them (`db.budgets`: actual cost once known, else the estimate
as a reservation; a prediction never created costs nothing), so the dashboard's spend is the
figure a budget refusal names.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from vsl_pipelines.db import cost_dashboard as dashboard_rows
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.cost_dashboard import SpendLine
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.billing import micro
from vsl_pipelines.services.costs import NO_SCRIPT, NO_USER

MONTH = re.compile(r"(\d{4})-(\d{2})")


class BadMonth(ValueError):
    pass


def parse_month(text: str) -> date:
    """The first day of the month `YYYY-MM`; BadMonth naming the text otherwise."""
    match = MONTH.fullmatch(text.strip())
    if match is None or not (1 <= int(match[2]) <= 12) or int(match[1]) < 1:
        raise BadMonth(f"{text[:20]!r} is not a month: YYYY-MM, e.g. 2026-11")
    return date(int(match[1]), int(match[2]), 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[the month's first instant, the next month's) in UTC."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(month, time(), UTC), datetime.combine(following, time(), UTC)


@dataclass(frozen=True)
class DaySpend:
    """A UTC day of the month: what it spent, the month's spend at its end (None for a day
    still to come) and the projection's at its end (from today to the month's end, for the
    current month; None otherwise)."""

    day: date
    spent_usd: float
    cumulative_usd: float | None
    projected_usd: float | None


@dataclass(frozen=True)
class ModelSpend:
    """A model's jobs and spend; of its settled jobs (actual cost known), the estimate against
    the actual, and their ratio (1.0: the estimates were right; None without a settled job)."""

    model_id: str
    jobs: int
    spent_usd: float
    settled_jobs: int
    estimated_usd: float
    actual_usd: float
    actual_over_estimate: float | None


@dataclass(frozen=True)
class GroupSpend:
    """A script's or a user's jobs and spend (`(ad-hoc)`, `(scripts)` for those without)."""

    name: str
    jobs: int
    spent_usd: float


@dataclass(frozen=True)
class CostDashboard:
    month: date  # its first day
    as_of: date  # the UTC day the figures were read
    workspace_slug: str
    workspace_name: str
    budget_usd: float | None
    jobs: int
    spent_usd: float
    days_in_month: int
    days_begun: int  # days of the month begun by `as_of`: 0 for a month to come
    projected_usd: float | None
    finished_videos: int
    finished_minutes: float
    cost_per_finished_minute_usd: float | None
    days: list[DaySpend]
    by_model: list[ModelSpend]
    by_script: list[GroupSpend]
    by_user: list[GroupSpend]

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.spent_usd > self.budget_usd

    @property
    def projected_over_budget(self) -> bool:
        return (
            self.budget_usd is not None
            and self.projected_usd is not None
            and self.projected_usd > self.budget_usd
        )


def month_dashboard(
    db: Database, workspace_id: int, month: date, today: date | None = None
) -> CostDashboard:
    """The workspace's month (`month`: any day of it) as of `today` (default: today, UTC).

    The projection is linear in days begun: spend so far x days in the month / days begun
    (today counts as begun, so the figure holds all day and the first day projects a whole
    month of it). A past month's projection is its spend; a month to come has none. Cost
    per finished minute is the month's spend over the minutes of the videos compiled in it
    (None when none was)."""
    month = month.replace(day=1)
    today = today or datetime.now(UTC).date()
    start, end = month_bounds(month)
    with db.connect() as conn:
        workspace = workspace_rows.workspace_by_id(conn, workspace_id)
        lines = dashboard_rows.spend_lines(conn, workspace_id, start, end)
        videos = dashboard_rows.finished_videos(conn, workspace_id, start, end)
    days_in_month = calendar.monthrange(month.year, month.month)[1]
    if today < month:
        begun = 0
    elif (today.year, today.month) == (month.year, month.month):
        begun = today.day
    else:
        begun = days_in_month
    spent = sum((line.spent_usd for line in lines), Decimal(0))
    projected = spent * days_in_month / begun if begun else None
    return CostDashboard(
        month=month,
        as_of=today,
        workspace_slug=workspace.slug,
        workspace_name=workspace.name,
        budget_usd=_usd(workspace.monthly_budget_usd),
        jobs=sum(line.jobs for line in lines),
        spent_usd=float(spent),
        days_in_month=days_in_month,
        days_begun=begun,
        projected_usd=_usd(projected),
        finished_videos=videos.videos,
        finished_minutes=round(videos.seconds / 60, 4),
        cost_per_finished_minute_usd=(
            _usd(spent * 60 / Decimal(repr(videos.seconds))) if videos.seconds > 0 else None
        ),
        days=_days(month, days_in_month, begun, lines, spent),
        by_model=_by_model(lines),
        by_script=_by_group(lines, lambda line: line.script_id or NO_SCRIPT),
        by_user=_by_group(lines, lambda line: line.user_id or NO_USER),
    )


def _usd(amount: Decimal | None) -> float | None:
    return None if amount is None else float(micro(amount))


def _days(
    month: date, days_in_month: int, begun: int, lines: list[SpendLine], spent: Decimal
) -> list[DaySpend]:
    per_day: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines:
        per_day[line.day.day] += line.spent_usd
    current = 0 < begun < days_in_month
    days, cumulative = [], Decimal(0)
    for n in range(1, days_in_month + 1):
        cumulative += per_day[n]
        days.append(
            DaySpend(
                day=month.replace(day=n),
                spent_usd=float(per_day[n]),
                cumulative_usd=float(cumulative) if n <= begun else None,
                projected_usd=_usd(spent * n / begun) if current and n >= begun else None,
            )
        )
    return days


def _by_model(lines: list[SpendLine]) -> list[ModelSpend]:
    models: dict[str, list[SpendLine]] = defaultdict(list)
    for line in lines:
        models[line.model_id].append(line)
    rows = []
    for model_id, part in models.items():
        estimated = sum((line.settled_estimated_usd for line in part), Decimal(0))
        actual = sum((line.settled_actual_usd for line in part), Decimal(0))
        rows.append(
            ModelSpend(
                model_id=model_id,
                jobs=sum(line.jobs for line in part),
                spent_usd=float(sum((line.spent_usd for line in part), Decimal(0))),
                settled_jobs=sum(line.settled_jobs for line in part),
                estimated_usd=float(estimated),
                actual_usd=float(actual),
                actual_over_estimate=round(float(actual / estimated), 4) if estimated else None,
            )
        )
    return sorted(rows, key=lambda row: (-row.spent_usd, row.model_id))


def _by_group(lines: Iterable[SpendLine], name: Callable[[SpendLine], str]) -> list[GroupSpend]:
    jobs: dict[str, int] = defaultdict(int)
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        jobs[name(line)] += line.jobs
        spent[name(line)] += line.spent_usd
    return sorted(
        (GroupSpend(key, jobs[key], float(spent[key])) for key in jobs),
        key=lambda row: (-row.spent_usd, row.name),
    )
