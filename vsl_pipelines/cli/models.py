"""`vsl models`: the model registry (config/models.json plus MODELS_CONFIG)."""

from __future__ import annotations

import click

from vsl_pipelines.cli.output import as_json, fail


@click.group()
def models() -> None:
    """The model registry (config/models.json plus MODELS_CONFIG)."""


@models.command("list")
@click.option("--json", "json_output", is_flag=True, help="Print JSON instead of a table.")
def models_list(json_output: bool) -> None:
    """Print every model with its kind, price and estimated time."""
    from vsl_pipelines.domain.registry import RegistryError, default_registry

    try:
        registry = default_registry()
    except RegistryError as exc:
        fail(str(exc))
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
    if json_output:
        click.echo(as_json(rows))
        return
    click.echo(f"{'MODEL':<18}{'KIND':<7}{'TASK':<16}{'PRICE':>16}{'EST. TIME':>11}")
    for r in rows:
        price = f"${r['usd']:g}/{r['per']}"
        click.echo(f"{r['id']:<18}{r['kind']:<7}{r['task']:<16}{price:>16}{r['estimated_s']:>9g} s")
