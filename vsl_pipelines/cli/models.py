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
    """Print every model with its kind, billing rule, estimated time and cost (defaults)."""
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
            "basis": m.pricing.basis,
            "usd": m.pricing.usd,
            "hardware": m.pricing.hardware,
            "usd_per_second": (
                float(m.pricing.rate_per_second) if m.pricing.basis == "hardware" else None
            ),
            "price": m.pricing.describe(),
            "estimated_s": m.estimated_time,
            "estimated_usd": m.estimate_cost(m.defaults),
            "version": m.version,
        }
        for m in registry
    ]
    if json_output:
        click.echo(as_json(rows))
        return
    click.echo(
        f"{'MODEL':<18}{'KIND':<7}{'TASK':<16}{'PRICE':<28}{'EST. TIME':>11}{'EST. COST':>11}"
    )
    for r in rows:
        click.echo(
            f"{r['id']:<18}{r['kind']:<7}{r['task']:<16}{r['price']:<28}"
            f"{r['estimated_s']:>9g} s{r['estimated_usd']:>11.6f}"
        )
