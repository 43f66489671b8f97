"""The `workspaces`, `people` and `memberships` tables: who may act where, with which role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from vsl_pipelines.db.connection import Conn, fetch_all, fetch_one, returned


class WorkspaceExists(ValueError):
    pass


class WorkspaceNotFound(LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no workspace {slug!r}; `vsl workspaces list` shows them")
        self.slug = slug


@dataclass(frozen=True)
class WorkspaceRow:
    id: int
    slug: str
    name: str
    monthly_budget_usd: Decimal | None
    created_at: datetime


@dataclass(frozen=True)
class PersonRow:
    id: int
    email: str
    subject: str | None
    name: str | None
    created_at: datetime
    last_sign_in_at: datetime | None


@dataclass(frozen=True)
class Membership:
    """A person's role in a workspace."""

    workspace_id: int
    slug: str
    workspace_name: str
    person_id: int
    email: str
    person_name: str | None
    role: str


def create_workspace(
    conn: Conn, slug: str, name: str, monthly_budget_usd: float | None
) -> WorkspaceRow:
    try:
        with conn.transaction():
            return returned(
                fetch_one(
                    conn,
                    WorkspaceRow,
                    "INSERT INTO workspaces (slug, name, monthly_budget_usd) VALUES (%s, %s, %s)"
                    " RETURNING *",
                    (slug, name, monthly_budget_usd),
                )
            )
    except psycopg.errors.UniqueViolation:
        raise WorkspaceExists(f"a workspace {slug!r} exists") from None


def list_workspaces(conn: Conn) -> list[WorkspaceRow]:
    return fetch_all(conn, WorkspaceRow, "SELECT * FROM workspaces ORDER BY id")


def workspace_by_slug(conn: Conn, slug: str) -> WorkspaceRow:
    row = fetch_one(conn, WorkspaceRow, "SELECT * FROM workspaces WHERE slug = %s", (slug,))
    if row is None:
        raise WorkspaceNotFound(slug)
    return row


def default_workspace_id(conn: Conn) -> int:
    """The id of `default`, where what existed before workspaces went."""
    return workspace_by_slug(conn, "default").id


def workspace_by_id(conn: Conn, workspace_id: int) -> WorkspaceRow:
    return returned(
        fetch_one(conn, WorkspaceRow, "SELECT * FROM workspaces WHERE id = %s", (workspace_id,))
    )


def set_budget(conn: Conn, workspace_id: int, monthly_budget_usd: float | None) -> None:
    conn.execute(
        "UPDATE workspaces SET monthly_budget_usd = %s WHERE id = %s",
        (monthly_budget_usd, workspace_id),
    )


def person_by_email(conn: Conn, email: str) -> PersonRow | None:
    return fetch_one(conn, PersonRow, "SELECT * FROM people WHERE email = %s", (email.lower(),))


def add_person(conn: Conn, email: str, name: str | None = None) -> PersonRow:
    """The person with this email, created if new (the name kept if already known)."""
    return returned(
        fetch_one(
            conn,
            PersonRow,
            "INSERT INTO people (email, name) VALUES (%s, %s) ON CONFLICT (email)"
            " DO UPDATE SET name = COALESCE(people.name, EXCLUDED.name) RETURNING *",
            (email.lower(), name),
        )
    )


def record_sign_in(conn: Conn, person_id: int, subject: str | None, name: str | None) -> None:
    conn.execute(
        "UPDATE people SET subject = COALESCE(subject, %s), name = COALESCE(%s, name),"
        " last_sign_in_at = now() WHERE id = %s",
        (subject, name, person_id),
    )


def set_membership(conn: Conn, workspace_id: int, person_id: int, role: str) -> None:
    """Make the person a member with `role` (a member already: the role changes)."""
    conn.execute(
        "INSERT INTO memberships (workspace_id, person_id, role) VALUES (%s, %s, %s)"
        " ON CONFLICT (workspace_id, person_id) DO UPDATE SET role = EXCLUDED.role",
        (workspace_id, person_id, role),
    )


def remove_membership(conn: Conn, workspace_id: int, person_id: int) -> bool:
    gone = conn.execute(
        "DELETE FROM memberships WHERE workspace_id = %s AND person_id = %s",
        (workspace_id, person_id),
    )
    return gone.rowcount > 0


_MEMBERSHIPS = (
    "SELECT m.workspace_id, w.slug, w.name AS workspace_name, m.person_id, p.email,"
    " p.name AS person_name, m.role FROM memberships m"
    " JOIN workspaces w ON w.id = m.workspace_id JOIN people p ON p.id = m.person_id"
)


def memberships_of(conn: Conn, person_id: int) -> list[Membership]:
    """The workspaces a person belongs to, by slug."""
    return fetch_all(
        conn, Membership, f"{_MEMBERSHIPS} WHERE m.person_id = %s ORDER BY w.slug", (person_id,)
    )


def members_of(conn: Conn, workspace_id: int) -> list[Membership]:
    """A workspace's people, by email."""
    return fetch_all(
        conn,
        Membership,
        f"{_MEMBERSHIPS} WHERE m.workspace_id = %s ORDER BY p.email",
        (workspace_id,),
    )


def notification_url(conn: Conn, workspace_id: int) -> str | None:
    """The workspace's notification webhook URL (a secret: log only its host); None: none."""
    row = conn.execute(
        "SELECT webhook_url FROM workspace_notifications WHERE workspace_id = %s",
        (workspace_id,),
    ).fetchone()
    return str(row["webhook_url"]) if row else None


def set_notification_url(conn: Conn, workspace_id: int, url: str | None, actor: str) -> None:
    """Set the workspace's notification webhook URL (None: remove it)."""
    if url is None:
        conn.execute("DELETE FROM workspace_notifications WHERE workspace_id = %s", (workspace_id,))
        return
    conn.execute(
        "INSERT INTO workspace_notifications (workspace_id, webhook_url, updated_by)"
        " VALUES (%s, %s, %s) ON CONFLICT (workspace_id) DO UPDATE"
        " SET webhook_url = EXCLUDED.webhook_url, updated_by = EXCLUDED.updated_by,"
        " updated_at = now()",
        (workspace_id, url, actor),
    )
