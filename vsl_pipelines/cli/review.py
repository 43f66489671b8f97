"""`vsl review`: list the takes waiting for a decision, approve or reject them."""

from __future__ import annotations

import os
from typing import Any

import click

from vsl_pipelines.cli.output import as_json, fail


@click.group()
def review() -> None:
    """Approve or reject section takes."""


@review.command("list")
@click.option("--script", "script_id", default=None, help="Only this script.")
def review_list(script_id: str | None) -> None:
    """Takes waiting for a decision."""
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.migrations import ready_database_url
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.services.review import review_queue

    try:
        with connect(ready_database_url()) as conn:
            click.echo(as_json(review_queue(conn, script_id)))
    except ScriptNotFound as exc:
        fail(str(exc))


def _decide(script_id: str, section_id: str, decision: str, **fields: Any) -> None:
    from vsl_pipelines.db.connection import connect
    from vsl_pipelines.db.migrations import ready_database_url
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.services.review import ReviewError, decide

    try:
        with connect(ready_database_url()) as conn:
            row = decide(
                conn, script_id, section_id, decision, reviewer=os.environ.get("USER"), **fields
            )
    except (ReviewError, ScriptNotFound) as exc:
        fail(str(exc))
    click.echo(
        as_json(
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
