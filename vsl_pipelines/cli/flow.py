"""`vsl migrate`, `vsl dev` and `vsl demo`: the embedded default set up, and every process of
the flow run on this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from vsl_pipelines.cli.launcher import (
    SAMPLE_SCRIPT,
    LaunchError,
    run_demo,
    run_dev,
    stop_on_signals,
)
from vsl_pipelines.cli.scripts import register_partition
from vsl_pipelines.settings import get_settings


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command("migrate")
def migrate_command() -> None:
    """Apply pending migrations (to the embedded PostgreSQL when DATABASE_URL is unset: started
    for this, and stopped again unless another process holds it)."""
    from vsl_pipelines.db.database import Database
    from vsl_pipelines.db.migrations import apply_migrations

    applied = apply_migrations(Database.from_settings(get_settings()))
    click.echo(json.dumps({"applied": applied}, indent=2))


@click.command("dev")
@click.option("--port", default=3000, help="Dagster UI port.")
def dev_command(port: int) -> None:
    """Sandbox, webhook service and `dagster dev` (UI on 127.0.0.1:PORT) with the sample script."""
    stop_on_signals()
    try:
        run_dev(get_settings(), port, register_partition, _say)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("demo")
@click.option(
    "--script",
    "script_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=SAMPLE_SCRIPT,
    show_default="config/scripts/spring-launch-narrated.yaml",
    help="The script to run (stored under a fresh demo id).",
)
@click.option("--timeout", "timeout_s", default=900, help="Give up after this many seconds.")
def demo_command(script_path: Path, timeout_s: int) -> None:
    """Run the whole flow headless through the Dagster daemon, approving every take; print one
    JSON line with the video and its asset checks."""
    stop_on_signals()
    # stdout carries exactly one JSON line: everything else printed in this process goes to stderr.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    settings = get_settings()

    def checks(script_id: str) -> dict[str, bool]:
        from vsl_pipelines.defs.checks import wait_for_check_results

        return wait_for_check_results(settings.dagster_home, "compiled_video", script_id)

    def launch(dagster_home: Path, workspace: Path, job: str, tags: dict[str, str]) -> str:
        from vsl_pipelines.defs.launch import launch_job

        return launch_job(dagster_home, workspace, job, tags)

    try:
        line = run_demo(settings, script_path, timeout_s, register_partition, _say, checks, launch)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    result_out.write(json.dumps(line) + "\n")
    result_out.flush()
    if not line["checks"]:
        raise click.ClickException("the compile run reported no asset check results")
    if not all(line["checks"].values()):
        raise click.ClickException(f"asset checks failed: {line['checks']}")
