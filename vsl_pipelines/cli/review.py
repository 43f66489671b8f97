"""`vsl review`: list the takes waiting for a decision (clips and narrations), approve or reject
them."""

from __future__ import annotations

import json
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
    """Takes waiting for a decision, each with its subject (clip or narration)."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.services.review import review_queue

    try:
        with ready_database().connect() as conn:
            click.echo(as_json(review_queue(conn, script_id)))
    except ScriptNotFound as exc:
        fail(str(exc))


def _decide(script_id: str, section_id: str, decision: str, **fields: Any) -> None:
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.db.scripts import ScriptNotFound
    from vsl_pipelines.services.review import ReviewError, decide

    try:
        with ready_database().connect() as conn:
            row = decide(
                conn, script_id, section_id, decision, reviewer=os.environ.get("USER"), **fields
            )
    except (ReviewError, ScriptNotFound) as exc:
        fail(str(exc))
    click.echo(
        as_json(
            {
                "approval_id": row.id,
                "script": script_id,
                "section": section_id,
                "subject": row.subject,
                "take": row.take,
                "decision": decision,
            }
        )
    )


def _param(text: str) -> tuple[str, Any]:
    """`NAME=VALUE`, the value read as JSON when it is (`1.1`, `true`), else as text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r}: give NAME=VALUE, e.g. speed=1.1", param_hint="--param")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


NARRATION = click.option(
    "--narration", is_flag=True, help="Decide the section's narration take, not its clip."
)


@review.command("approve")
@click.argument("script_id")
@click.argument("section_id")
@click.option("--note", default=None)
@NARRATION
def review_approve(script_id: str, section_id: str, note: str | None, narration: bool) -> None:
    """Approve the section's current take (its clip; with --narration, its narration)."""
    subject = "narration" if narration else "clip"
    _decide(script_id, section_id, "approved", note=note, subject=subject)


@review.command("reject")
@click.argument("script_id")
@click.argument("section_id")
@click.option("--note", default=None, help="Why (kept in the log).")
@click.option("--prompt", default=None, help="A new prompt for the next clip take.")
@click.option("--seed", type=int, default=None, help="A seed for the next clip take.")
@NARRATION
@click.option(
    "--text", default=None, help="With --narration: the corrected words for the next take."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --narration: a voice parameter for the next take (repeatable), e.g. speed=1.1.",
)
def review_reject(
    script_id: str,
    section_id: str,
    note: str | None,
    prompt: str | None,
    seed: int | None,
    narration: bool,
    text: str | None,
    params: tuple[str, ...],
) -> None:
    """Reject the section's current take (its clip, or with --narration its narration alone);
    the approval sensor starts a new one."""
    _decide(
        script_id,
        section_id,
        "rejected",
        note=note,
        prompt=prompt,
        seed=seed,
        subject="narration" if narration else "clip",
        text=text,
        params=dict(_param(p) for p in params) if params else None,
    )
