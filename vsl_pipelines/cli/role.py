"""`vsl role ROLE`: what the deployed image runs, after checking the role's settings."""

from __future__ import annotations

import os
import shutil
import sys

import click

from vsl_pipelines.deployment.preflight import ROLES, PreflightError, check_role, command_for


@click.command(
    "role",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    epilog="\n\n".join(f"{name}: {role.doc}" for name, role in ROLES.items()),
)
@click.argument("name", type=click.Choice(sorted(ROLES)))
@click.option("--check-only", is_flag=True, help="Check the settings and exit.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def role_command(name: str, check_only: bool, extra: tuple[str, ...]) -> None:
    """Check ROLE's settings (each failure one line naming the setting), then become its
    process: webserver, daemon, code-server or service. EXTRA arguments go to its command."""
    role = ROLES[name]
    try:
        check_role(role)
    except PreflightError as exc:
        click.echo(f"vsl role {name}: {exc}", err=True)
        sys.exit(2)
    if check_only:
        click.echo(f"vsl role {name}: settings checked")
        return
    command = command_for(role, extra)
    executable = shutil.which(command[0])
    if executable is None:
        click.echo(f"vsl role {name}: {command[0]} is not on PATH", err=True)
        sys.exit(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(executable, command)
