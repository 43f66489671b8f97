"""`vsl scripts`: store, list, inspect and retry scripts."""

from __future__ import annotations

from pathlib import Path

import click

from vsl_pipelines.cli.output import as_json, fail


@click.group()
def scripts() -> None:
    """Store, list, inspect and retry scripts."""


def register_partition(script_id: str) -> bool:
    """Register the script's partition in the configured Dagster instance, if there is one."""
    from vsl_pipelines.defs.partitions import register_partition as register
    from vsl_pipelines.settings import get_settings

    return register(script_id, get_settings().dagster_home)


@scripts.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--workspace", default="default", show_default=True, help="The script's workspace.")
def scripts_add(file: Path, workspace: str) -> None:
    """Validate FILE, store it in Postgres and register its partition."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.scripts import ScriptExists
    from vsl_pipelines.db.workspaces import WorkspaceNotFound
    from vsl_pipelines.domain.registry import RegistryError, default_registry
    from vsl_pipelines.domain.script import ScriptError, read_script_document
    from vsl_pipelines.services.intake import add_script
    from vsl_pipelines.services.workspaces import operator

    db = ready_database()
    try:
        with db.connect() as conn:
            actor = operator(conn, workspace)
        added = add_script(
            db,
            read_script_document(file),
            default_registry(),
            actor=actor,
            source=str(file),
            source_path=str(file),
            on_stored=register_partition,
        )
    except (RegistryError, ScriptError, ScriptExists, WorkspaceNotFound) as exc:
        fail(str(exc))
    click.echo(as_json(added.summary()))


@scripts.command("list")
def scripts_list() -> None:
    """One line per stored script with its status."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.scripts import list_scripts

    with ready_database().connect() as conn:
        rows = list_scripts(conn)
    if not rows:
        click.echo("no scripts stored; add one with `vsl scripts add FILE`")
    for r in rows:
        budget = f"${float(r.budget_usd):.2f}" if r.budget_usd is not None else "-"
        click.echo(f"{r.id:<28}{r.status:<12}budget {budget:<10}{r.title}")


@scripts.command("show")
@click.argument("script_id")
def scripts_show(script_id: str) -> None:
    """Status per section: takes, jobs, approvals and cost."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.services.script_state import script_status

    try:
        with ready_database().connect() as conn:
            click.echo(as_json(script_status(conn, script_id)))
    except ScriptNotFound as exc:
        fail(str(exc))


@scripts.command("retry")
@click.argument("script_id")
def scripts_retry(script_id: str) -> None:
    """Give a failed script's failed predictions another round of attempts."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.services.script_state import NotFailed, retry_script

    try:
        with ready_database().connect() as conn:
            click.echo(as_json(retry_script(conn, script_id)))
    except (ScriptNotFound, NotFailed) as exc:
        fail(str(exc))
