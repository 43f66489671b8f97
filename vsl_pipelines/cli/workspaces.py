"""`vsl workspaces` and `vsl members`: the workspaces (clients, brands, teams) and who belongs
to each with which role. An operator's commands: recorded in each workspace's audit log as
`vsl`."""

from __future__ import annotations

from dataclasses import asdict

import click

from vsl_pipelines.cli.output import as_json, fail

ACTOR = "vsl"  # domain.roles.OPERATOR, without importing more than click for --help
ROLES = click.Choice(["viewer", "writer", "reviewer", "admin"], case_sensitive=False)


@click.group()
def workspaces() -> None:
    """Workspaces: every script, job, key and budget belongs to one."""


@workspaces.command("create")
@click.argument("slug")
@click.option("--name", default=None, help="A name to show (default: the slug).")
@click.option("--monthly-budget", type=float, default=None, help="USD a month, for every job.")
def workspaces_create(slug: str, name: str | None, monthly_budget: float | None) -> None:
    """Create a workspace named by SLUG (lower-case letters, digits, '-')."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.services.workspaces import WorkspaceRefused, create_workspace

    try:
        with ready_database().connect() as conn:
            row = create_workspace(conn, slug, name, monthly_budget, ACTOR)
    except WorkspaceRefused as exc:
        fail(str(exc))
    click.echo(as_json(asdict(row)))


@workspaces.command("list")
def workspaces_list() -> None:
    """Every workspace."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.workspaces import list_workspaces

    with ready_database().connect() as conn:
        click.echo(as_json([asdict(w) for w in list_workspaces(conn)]))


@click.group()
def members() -> None:
    """People of a workspace, matched by the email they sign in to the studio with."""


@members.command("add")
@click.argument("email")
@click.option("--workspace", "slug", default="default", show_default=True)
@click.option("--role", type=ROLES, required=True)
@click.option("--name", default=None)
def members_add(email: str, slug: str, role: str, name: str | None) -> None:
    """Make EMAIL a member of the workspace with ROLE (a member already: change the role)."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.workspaces import WorkspaceNotFound, workspace_by_slug
    from vsl_pipelines.domain.roles import Role
    from vsl_pipelines.services.workspaces import WorkspaceRefused, set_member

    try:
        with ready_database().connect() as conn:
            workspace = workspace_by_slug(conn, slug)
            member = set_member(conn, workspace, email, Role.parse(role), ACTOR, name)
    except (WorkspaceRefused, WorkspaceNotFound) as exc:
        fail(str(exc))
    click.echo(as_json(asdict(member)))


@members.command("list")
@click.option("--workspace", "slug", default="default", show_default=True)
def members_list(slug: str) -> None:
    """The workspace's people and their roles."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.workspaces import WorkspaceNotFound, members_of, workspace_by_slug

    try:
        with ready_database().connect() as conn:
            found = members_of(conn, workspace_by_slug(conn, slug).id)
    except WorkspaceNotFound as exc:
        fail(str(exc))
    click.echo(as_json([asdict(m) for m in found]))


@members.command("remove")
@click.argument("email")
@click.option("--workspace", "slug", default="default", show_default=True)
def members_remove(email: str, slug: str) -> None:
    """Take EMAIL out of the workspace."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.workspaces import WorkspaceNotFound, workspace_by_slug
    from vsl_pipelines.services.workspaces import WorkspaceRefused, remove_member

    try:
        with ready_database().connect() as conn:
            remove_member(conn, workspace_by_slug(conn, slug), email, ACTOR)
    except (WorkspaceRefused, WorkspaceNotFound) as exc:
        fail(str(exc))
    click.echo(f"removed {email} from {slug}")
