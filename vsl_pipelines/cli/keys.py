"""`vsl keys`: the integrator API's keys (create, list, revoke)."""

from __future__ import annotations

from dataclasses import asdict

import click

from vsl_pipelines.cli.output import as_json, fail


@click.group()
def keys() -> None:
    """API keys for integrators (sent as `X-API-Key` or `Authorization: Bearer`)."""


@keys.command("create")
@click.option("--name", required=True, help="A name to list and revoke it by.")
@click.option("--workspace", default="default", show_default=True, help="The key's workspace.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "writer", "reviewer", "admin"], case_sensitive=False),
    default="writer",
    show_default=True,
    help="What the key may do in its workspace.",
)
@click.option("--user", "user_id", default=None, help="The user id the key acts for.")
@click.option("--rate", default="60/minute", show_default=True, help="Requests per minute.")
def keys_create(name: str, workspace: str, role: str, user_id: str | None, rate: str) -> None:
    """Create a key; its details, then the key alone on the last line (shown this once)."""
    from vsl_pipelines.db.api_keys import KeyNameTaken
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.domain.roles import Role
    from vsl_pipelines.services.keys import KeyRefused, create_key, parse_rate

    try:
        row, key = create_key(
            ready_database(),
            name,
            workspace=workspace,
            role=Role.parse(role),
            user_id=user_id,
            rate_per_minute=parse_rate(rate),
        )
    except (KeyRefused, KeyNameTaken) as exc:
        fail(str(exc))
    click.echo(as_json(asdict(row)))
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """Every key with its name, user, rate, prefix and dates (never the key)."""
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.services.keys import list_keys

    click.echo(as_json([asdict(k) for k in list_keys(ready_database())]))


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the named key; requests with it are refused from now on (with REDIS_URL set as
    the service's; otherwise within 30 s, when its cached verification expires)."""
    from vsl_pipelines.cache.key_cache import key_cache_from_url
    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.services.keys import KeyRefused, revoke_key
    from vsl_pipelines.settings import get_settings

    cache = key_cache_from_url(get_settings().redis_url)
    try:
        click.echo(as_json(asdict(revoke_key(ready_database(), name, cache))))
    except KeyRefused as exc:
        fail(str(exc))
