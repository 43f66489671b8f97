"""Reserving a prediction's estimate against the budgets it falls under, in the caller's
transaction: the workspace's monthly budget (ad-hoc and script jobs alike) and, for a
script's jobs, the script's own. A refusal says which budget, what is spent or reserved, and
what the request would cost."""

from __future__ import annotations

from decimal import Decimal

from vsl_pipelines.db import budgets
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.generation.stages import BudgetExceeded


def lock_workspace(conn: Conn, workspace_id: int) -> None:
    """Hold the workspace's lock until the caller's transaction ends: every reservation of the
    workspace waits for it (`reserve` takes it again, which the same transaction may)."""
    budgets.hold_workspace_month(conn, workspace_id)


def reserve(
    conn: Conn,
    workspace_id: int,
    cost_usd: float,
    script_id: str | None = None,
    script_budget_usd: float | None = None,
) -> None:
    """BudgetExceeded unless `cost_usd` more fits every budget in scope (the workspace's month;
    the script's `script_budget_usd`, from its document, when given); holds the workspace's
    lock until the caller's transaction ends, so the reservation it then writes is counted by
    the next request."""
    month = budgets.hold_workspace_month(conn, workspace_id)
    if not month.room_for(cost_usd):
        raise BudgetExceeded(
            f"workspace {month.slug!r}: monthly budget {usd_text(month.budget_usd or 0)},"
            f" {usd_text(month.committed_usd)} spent or reserved this month;"
            f" this request would cost {usd_text(cost_usd)}"
        )
    if script_id is None or script_budget_usd is None:
        return
    script = budgets.Spend(
        Decimal(str(script_budget_usd)), budgets.script_committed_usd(conn, script_id)
    )
    if not script.room_for(cost_usd):
        raise BudgetExceeded(
            f"script {script_id!r}: budget {usd_text(script_budget_usd)},"
            f" {usd_text(script.committed_usd)} spent or reserved;"
            f" this request would cost {usd_text(cost_usd)}"
        )
