"""The cost dashboard's month over real rows: what counts (as the budget counts it), per day with
the projection, by model with the estimates against the actual costs, by script and user, per
finished video minute; one workspace's figures never include another's; bad months named."""

from __future__ import annotations

from datetime import date

import pytest

from tests.fixtures.spending import ACME_BUDGET_USD, NOVEMBER, Spending
from vsl_pipelines.db.database import Database
from vsl_pipelines.services.cost_dashboard import (
    BadMonth,
    GroupSpend,
    ModelSpend,
    month_dashboard,
    parse_month,
)

NOVEMBER_2026 = date(2026, 11, 1)


def test_a_past_month_counts_what_the_budget_counts(db: Database, spending: Spending) -> None:
    dash = month_dashboard(db, spending.acme_id, NOVEMBER_2026, today=date(2026, 12, 6))
    assert (dash.workspace_slug, dash.month, dash.budget_usd) == ("acme", NOVEMBER_2026, 0.25)
    assert (dash.jobs, dash.spent_usd) == (NOVEMBER["jobs"], NOVEMBER["spent"])
    assert (dash.days_in_month, dash.days_begun) == (30, 30)
    assert dash.projected_usd == dash.spent_usd, "a past month's projection is its spend"
    assert not dash.over_budget and not dash.projected_over_budget

    assert [d.day for d in dash.days] == [date(2026, 11, n) for n in range(1, 31)]
    spent = {d.day.day: d.spent_usd for d in dash.days if d.spent_usd}
    assert spent == NOVEMBER["days"]
    cumulative = {d.day.day: d.cumulative_usd for d in dash.days}
    assert {n: cumulative[n] for n in NOVEMBER["cumulative"]} == NOVEMBER["cumulative"]
    assert all(d.projected_usd is None for d in dash.days)

    assert dash.by_model == [
        ModelSpend("kling-v2", 1, 0.2, 1, 0.25, 0.2, 0.8),
        ModelSpend("sdxl", 2, 0.022, 1, 0.01, 0.012, 1.2),
        ModelSpend("flux-schnell", 3, 0.0096, 2, 0.006, 0.0066, 1.1),
    ]
    assert dash.by_script == [
        GroupSpend("acme-launch", 3, 0.2066),
        GroupSpend("(ad-hoc)", 3, 0.025),
    ]
    assert dash.by_user == [
        GroupSpend("(scripts)", 3, 0.2066),
        GroupSpend("u-ana", 2, 0.013),
        GroupSpend("u-bo", 1, 0.012),  # its never-created job costs nothing
    ]
    assert (dash.finished_videos, dash.finished_minutes) == (2, NOVEMBER["minutes"])
    assert dash.cost_per_finished_minute_usd == 0.1158  # 0.2316 / 2 minutes


def test_the_current_month_is_projected_from_the_days_begun(
    db: Database, spending: Spending
) -> None:
    dash = month_dashboard(db, spending.acme_id, NOVEMBER_2026, today=date(2026, 11, 10))
    assert dash.days_begun == 10
    assert dash.projected_usd == 0.6948  # 0.2316 x 30 / 10
    assert dash.projected_over_budget and not dash.over_budget
    days = {d.day.day: d for d in dash.days}
    assert days[10].cumulative_usd == days[10].projected_usd == 0.2316  # the lines meet today
    assert days[11].cumulative_usd is None and days[9].projected_usd is None
    assert days[20].projected_usd == 0.4632 and days[30].projected_usd == dash.projected_usd


def test_a_month_to_come_has_nothing_and_no_projection(db: Database, spending: Spending) -> None:
    dash = month_dashboard(db, spending.acme_id, date(2027, 2, 14), today=date(2026, 12, 6))
    assert (dash.month, dash.days_in_month, dash.days_begun) == (date(2027, 2, 1), 28, 0)
    assert (dash.jobs, dash.spent_usd, dash.projected_usd) == (0, 0.0, None)
    assert all(d.cumulative_usd is None and d.projected_usd is None for d in dash.days)
    assert dash.by_model == dash.by_script == dash.by_user == []
    assert dash.cost_per_finished_minute_usd is None and dash.finished_minutes == 0


def test_over_budget_is_flagged(db: Database, spending: Spending) -> None:
    with db.connect() as conn:
        conn.execute(
            "UPDATE workspaces SET monthly_budget_usd = 0.2 WHERE id = %s", (spending.acme_id,)
        )
    dash = month_dashboard(db, spending.acme_id, NOVEMBER_2026, today=date(2026, 12, 6))
    assert dash.over_budget and dash.projected_over_budget
    assert ACME_BUDGET_USD > dash.spent_usd > 0.2


def test_another_workspace_sees_only_its_own(db: Database, spending: Spending) -> None:
    dash = month_dashboard(db, spending.globex_id, NOVEMBER_2026, today=date(2026, 12, 6))
    assert (dash.workspace_slug, dash.budget_usd, dash.jobs, dash.spent_usd) == (
        "globex",
        None,
        1,
        0.5,
    )
    assert [g.name for g in dash.by_script] == ["globex-launch"]
    assert dash.by_model == [ModelSpend("flux-schnell", 1, 0.5, 0, 0.0, 0.0, None)]
    assert dash.finished_minutes == 10.0 and dash.cost_per_finished_minute_usd == 0.05
    assert not dash.over_budget and not dash.projected_over_budget, "no budget, nothing over"


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-00", "2026-1", "26-11", "0000-05", "2026-11-01", "november", "", "2026-1x"],
)
def test_a_bad_month_is_named(text: str) -> None:
    with pytest.raises(BadMonth, match="is not a month: YYYY-MM"):
        parse_month(text)


def test_months_parse_to_their_first_day() -> None:
    assert parse_month("2026-11") == NOVEMBER_2026
    assert parse_month(" 2028-02 ") == date(2028, 2, 1)
