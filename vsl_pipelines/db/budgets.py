"""Budgets that hold under concurrency: a prediction's estimate is reserved while the
workspace's row is locked (`SELECT ... FOR UPDATE`), so two requests of one workspace check
and reserve one after the other, never both against the same figures.

What counts: every job of the scope (the workspace this calendar month, UTC, or the script)
at its actual cost once known, else its estimate (a reservation), except a prediction that was
never created (failed or canceled before Replicate had it: it costs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from vsl_pipelines.db.connection import Conn, fetch_one, returned

# A job counts unless its prediction was never created.
COUNTED = "NOT (prediction_id IS NULL AND status IN ('failed', 'canceled', 'aborted'))"
COST = "COALESCE(actual_cost_usd, estimated_cost_usd)"


@dataclass(frozen=True)
class Spend:
    """A budget (None: none) and what its scope has spent or reserved."""

    budget_usd: Decimal | None
    committed_usd: Decimal

    def room_for(self, cost_usd: float) -> bool:
        return (
            self.budget_usd is None
            or float(self.committed_usd) + cost_usd <= float(self.budget_usd) + 1e-9
        )


@dataclass(frozen=True)
class WorkspaceMonth(Spend):
    slug: str


def hold_workspace_month(conn: Conn, workspace_id: int) -> WorkspaceMonth:
    """Lock the workspace (until the transaction ends) and read its monthly budget and this
    month's spend and reservations.

    Two statements: in READ COMMITTED a statement's snapshot is taken before it waits for a
    lock, so a sum read by the locking statement itself would miss the reservation committed
    by the transaction it waited for; the second statement's snapshot, taken after the lock,
    sees it."""
    conn.execute("SELECT 1 FROM workspaces WHERE id = %s FOR UPDATE", (workspace_id,))
    return returned(
        fetch_one(
            conn,
            WorkspaceMonth,
            "SELECT w.monthly_budget_usd AS budget_usd,"
            f" (SELECT COALESCE(sum({COST}), 0) FROM jobs j WHERE j.workspace_id = w.id"
            "   AND j.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
            f"   AND {COUNTED}) AS committed_usd,"
            " w.slug FROM workspaces w WHERE w.id = %s",
            (workspace_id,),
        )
    )


def script_committed_usd(conn: Conn, script_id: str) -> Decimal:
    """What a script's jobs have spent or reserved (call it after `hold_workspace_month`: the
    workspace's lock serializes the script's reservations too)."""
    row = conn.execute(
        f"SELECT COALESCE(sum({COST}), 0) AS usd FROM jobs WHERE script_id = %s AND {COUNTED}",
        (script_id,),
    ).fetchone()
    return Decimal(row["usd"]) if row else Decimal(0)
