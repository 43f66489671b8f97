"""Workspaces and their members: made and changed by an operator (`vsl workspaces`, `vsl
members`) or a workspace's admin, each change in the audit log."""

from __future__ import annotations

import math
import re

from vsl_pipelines.db import audit
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.workspaces import Membership, WorkspaceRow, workspace_by_slug
from vsl_pipelines.domain.roles import DEFAULT_WORKSPACE, OPERATOR, Actor, Role, slug_problem

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
MAX_BUDGET_USD = 1_000_000.0


class WorkspaceRefused(ValueError):
    """A request about workspaces or members that cannot be honoured; safe to show."""


def check_budget(budget_usd: float | None) -> float | None:
    if budget_usd is not None and not (
        math.isfinite(budget_usd) and 0 <= budget_usd <= MAX_BUDGET_USD
    ):
        raise WorkspaceRefused(f"monthly budget: between 0 and {MAX_BUDGET_USD:,.0f} USD")
    return budget_usd


def create_workspace(
    conn: Conn, slug: str, name: str | None, monthly_budget_usd: float | None, actor: str
) -> WorkspaceRow:
    problem = slug_problem(slug)
    if problem is not None:
        raise WorkspaceRefused(f"slug {slug!r}: {problem}")
    title = (name or slug).strip()
    if not title or len(title) > 200 or not title.isprintable():
        raise WorkspaceRefused("name: 1-200 printable characters")
    try:
        row = workspace_rows.create_workspace(conn, slug, title, check_budget(monthly_budget_usd))
    except workspace_rows.WorkspaceExists as exc:
        raise WorkspaceRefused(str(exc)) from None
    audit.record(conn, row.id, actor, "workspace.created", f"workspace:{slug}", {"name": title})
    return row


def set_budget(conn: Conn, workspace: WorkspaceRow, budget_usd: float | None, actor: str) -> None:
    workspace_rows.set_budget(conn, workspace.id, check_budget(budget_usd))
    audit.record(
        conn,
        workspace.id,
        actor,
        "budget.changed",
        f"workspace:{workspace.slug}",
        {"from": workspace.monthly_budget_usd, "to": budget_usd},
    )


def set_member(
    conn: Conn, workspace: WorkspaceRow, email: str, role: Role, actor: str, name: str | None = None
) -> Membership:
    """Make `email` a member of the workspace with `role` (or change its role)."""
    if EMAIL.fullmatch(email.strip()) is None:
        raise WorkspaceRefused(f"email {email[:80]!r}: not an email address")
    person = workspace_rows.add_person(conn, email.strip(), name)
    before = {m.workspace_id: m.role for m in workspace_rows.memberships_of(conn, person.id)}
    workspace_rows.set_membership(conn, workspace.id, person.id, role.value)
    audit.record(
        conn,
        workspace.id,
        actor,
        "member.added" if workspace.id not in before else "member.role_changed",
        f"person:{person.email}",
        {"role": role.value, "before": before.get(workspace.id)},
    )
    [member] = [
        m for m in workspace_rows.members_of(conn, workspace.id) if m.person_id == person.id
    ]
    return member


def remove_member(conn: Conn, workspace: WorkspaceRow, email: str, actor: str) -> None:
    person = workspace_rows.person_by_email(conn, email.strip())
    if person is None or not workspace_rows.remove_membership(conn, workspace.id, person.id):
        raise WorkspaceRefused(f"{email[:80]!r} is not a member of {workspace.slug!r}")
    audit.record(conn, workspace.id, actor, "member.removed", f"person:{person.email}")


def operator(conn: Conn, slug: str = DEFAULT_WORKSPACE) -> Actor:
    """The operator (the `vsl` command, the launcher) acting in a workspace, as its admin;
    WorkspaceNotFound for an unknown slug."""
    return Actor(workspace_by_slug(conn, slug).id, OPERATOR, Role.ADMIN, operator=True)
