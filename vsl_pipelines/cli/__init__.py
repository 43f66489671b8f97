"""The `vsl` command, one module per command group; a subcommand's module is imported only
when that subcommand runs, so `vsl compile` does not pay for Dagster, FastAPI or psycopg."""

from __future__ import annotations

import importlib
import os

import click

# name -> "module:attribute" under vsl_pipelines.cli
COMMANDS = {
    "models": "models:models",
    "scripts": "scripts:scripts",
    "review": "review:review",
    "jobs": "jobs:jobs",
    "keys": "keys:keys",
    "workspaces": "workspaces:workspaces",
    "members": "workspaces:members",
    "compile": "compile:compile_command",
    "sandbox": "sandbox:sandbox_command",
    "serve": "serve:serve_command",
    "migrate": "flow:migrate_command",
    "dev": "flow:dev_command",
    "demo": "flow:demo_command",
    "role": "role:role_command",
    "health": "health:health_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are loaded from their module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        command: click.Command = getattr(module, attribute)
        return command

    def invoke(self, ctx: click.Context) -> object:
        from vsl_pipelines.settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:  # a bad environment: its one line, not a traceback
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """VSL Pipelines: scripts in, generated media reviewed, one compiled video out."""
    from vsl_pipelines.db.embedded import embedded_server_lifetime
    from vsl_pipelines.logs import configure_logging

    # The variable `Settings.log_level` reads, read without the settings model: loading
    # pydantic-settings costs ~0.1 s, as much as `vsl compile`'s own work on three clips.
    configure_logging(os.environ.get("VSL_LOG_LEVEL") or "INFO")
    # Every command lets go of the embedded PostgreSQL it used when it ends (success, error,
    # Ctrl-C, SIGTERM), stopping it unless another live process holds it (db/embedded.py).
    ctx.with_resource(embedded_server_lifetime())
