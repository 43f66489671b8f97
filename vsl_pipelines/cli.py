"""The `vsl` command: models, scripts, review, and the processes (sandbox, service, compile, dev, demo)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from vsl_pipelines.logs import configure_logging
from vsl_pipelines.settings import get_settings


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)


@click.group()
def main() -> None:
    """VSL Pipelines: scripts in, generated media reviewed, one compiled video out."""
    configure_logging(get_settings().log_level)


# -- models -------------------------------------------------------------------------------


@main.group()
def models() -> None:
    """The model registry (config/models.json plus MODELS_CONFIG)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(as_json: bool) -> None:
    """Print every model with its kind, price and estimated time."""
    from vsl_pipelines.domain.registry import RegistryError, default_registry

    try:
        registry = default_registry()
    except RegistryError as exc:
        _fail(str(exc))
    rows = [
        {
            "id": m.id,
            "kind": m.kind,
            "task": m.task,
            "usd": m.pricing.usd,
            "per": m.pricing.per,
            "estimated_s": m.estimated_time,
            "version": m.version,
        }
        for m in registry
    ]
    if as_json:
        click.echo(_json(rows))
        return
    click.echo(f"{'MODEL':<18}{'KIND':<7}{'TASK':<16}{'PRICE':>16}{'EST. TIME':>11}")
    for r in rows:
        price = f"${r['usd']:g}/{r['per']}"
        click.echo(f"{r['id']:<18}{r['kind']:<7}{r['task']:<16}{price:>16}{r['estimated_s']:>9g} s")


# -- scripts ------------------------------------------------------------------------------


@main.group()
def scripts() -> None:
    """Store, list and inspect scripts."""


@scripts.command("add")
@click.argument("file", type=click.Path(path_type=Path))
def scripts_add(file: Path) -> None:
    """Validate FILE, store it in Postgres and register its partition."""
    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.scripts import ScriptExists
    from vsl_pipelines.domain.registry import RegistryError, default_registry
    from vsl_pipelines.domain.script import ScriptError, load_script
    from vsl_pipelines.intake import register_partition, store_script

    try:
        registry = default_registry()
        script = load_script(file, registry)
        estimate = store_script(ready_database_url(), script, registry, str(file), str(file))
    except (RegistryError, ScriptError, ScriptExists) as exc:
        _fail(str(exc))
    registered = register_partition(script.id)
    click.echo(
        _json(
            {
                "script_id": script.id,
                "sections": len(script.sections),
                "estimated_cost_usd": estimate,
                "partition_registered": registered,
            }
        )
    )


@scripts.command("list")
def scripts_list() -> None:
    """One line per stored script with its status."""
    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.scripts import list_scripts

    with connect(ready_database_url()) as conn:
        rows = list_scripts(conn)
    if not rows:
        click.echo("no scripts stored; add one with `vsl scripts add FILE`")
    for r in rows:
        budget = f"${float(r['budget_usd']):.2f}" if r["budget_usd"] is not None else "-"
        click.echo(f"{r['id']:<28}{r['status']:<12}budget {budget:<10}{r['title']}")


@scripts.command("show")
@click.argument("script_id")
def scripts_show(script_id: str) -> None:
    """Status per section: takes, jobs, approvals and cost."""
    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.status import script_status

    try:
        with connect(ready_database_url()) as conn:
            click.echo(_json(script_status(conn, script_id)))
    except ScriptNotFound as exc:
        _fail(str(exc))


# -- review -------------------------------------------------------------------------------


@main.group()
def review() -> None:
    """Approve or reject section takes."""


@review.command("list")
@click.option("--script", "script_id", default=None, help="Only this script.")
def review_list(script_id: str | None) -> None:
    """Takes waiting for a decision."""
    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.review import review_queue

    try:
        with connect(ready_database_url()) as conn:
            click.echo(_json(review_queue(conn, script_id)))
    except ScriptNotFound as exc:
        _fail(str(exc))


def _decide(script_id: str, section_id: str, decision: str, **kwargs: Any) -> None:
    from vsl_pipelines.database import ready_database_url
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.review import ReviewError, decide

    try:
        with connect(ready_database_url()) as conn:
            row = decide(
                conn, script_id, section_id, decision, reviewer=os.environ.get("USER"), **kwargs
            )
    except (ReviewError, ScriptNotFound) as exc:
        _fail(str(exc))
    click.echo(
        _json(
            {
                "approval_id": row["id"],
                "script": script_id,
                "section": section_id,
                "take": row["take"],
                "decision": decision,
            }
        )
    )


@review.command("approve")
@click.argument("script_id")
@click.argument("section_id")
@click.option("--note", default=None)
def review_approve(script_id: str, section_id: str, note: str | None) -> None:
    """Approve the section's current take."""
    _decide(script_id, section_id, "approved", note=note)


@review.command("reject")
@click.argument("script_id")
@click.argument("section_id")
@click.option("--note", default=None, help="Why (kept in the log).")
@click.option("--prompt", default=None, help="A new prompt for the next take.")
@click.option("--seed", type=int, default=None, help="A seed for the next take.")
def review_reject(
    script_id: str, section_id: str, note: str | None, prompt: str | None, seed: int | None
) -> None:
    """Reject the section's current take; the approval sensor starts a new one."""
    _decide(script_id, section_id, "rejected", note=note, prompt=prompt, seed=seed)


# -- processes ----------------------------------------------------------------------------


@main.command("migrate")
def migrate() -> None:
    """Start the embedded PostgreSQL if needed and apply pending migrations."""
    from vsl_pipelines.db.embedded import resolve_database_url
    from vsl_pipelines.db.migrations import apply_migrations

    applied = apply_migrations(resolve_database_url(get_settings()))
    click.echo(_json({"applied": applied}))


def _register_process_commands() -> None:
    from vsl_pipelines.launcher import demo_command, dev_command
    from vsl_pipelines.media.command import compile_command
    from vsl_pipelines.sandbox.command import sandbox_command
    from vsl_pipelines.service.command import serve_command

    main.add_command(sandbox_command, "sandbox")
    main.add_command(serve_command, "serve")
    main.add_command(compile_command, "compile")
    main.add_command(dev_command, "dev")
    main.add_command(demo_command, "demo")


_register_process_commands()
