"""`vsl sandbox`: serve the Replicate-compatible sandbox in the foreground.

Every knob has a flag; they can also be changed later with `POST /sandbox/knobs`.
"""

from __future__ import annotations

from pathlib import Path

import click

from vsl_pipelines.sandbox.config import SandboxConfig


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Prediction state, outputs and the webhook secret [default: $VSL_DATA_DIR/sandbox].",
)
@click.option("--public-url", default=None, help="Base URL of links [default: http://HOST:PORT].")
@click.option("--latency", "latency_s", default=0.5, show_default=True, type=float)
@click.option("--failure-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1))
@click.option("--output-ttl", "output_ttl_s", default=3600.0, show_default=True, type=float)
@click.option("--webhook-attempts", default=8, show_default=True, type=int)
@click.option("--webhook-base-delay", "webhook_base_delay_s", default=0.5, type=float)
@click.option("--duplicate-webhooks", default=0, show_default=True, type=int)
@click.option("--out-of-order/--in-order", default=False, show_default=True)
@click.option("--random-seed", default=None, type=int)
@click.option("--workers", default=4, show_default=True, type=int)
@click.option(
    "--webhook-target",
    "webhook_targets",
    multiple=True,
    help="Base URL of a webhook receiver (repeat for several): deliveries go to each in turn, "
    "as through a load balancer, keeping the webhook URL's path.",
)
@click.option("--log-level", default=None, help="[default: $VSL_LOG_LEVEL or INFO]")
def sandbox_command(data_dir: Path | None, log_level: str | None, **options: object) -> None:
    """Serve a Replicate-compatible API that renders real media locally."""
    from pydantic import ValidationError

    from vsl_pipelines.sandbox.config import describe_validation_error
    from vsl_pipelines.sandbox.server import run_sandbox
    from vsl_pipelines.settings import get_settings

    settings = get_settings()
    try:
        config = SandboxConfig(
            data_dir=data_dir or settings.data_dir / "sandbox",
            log_level=log_level or settings.log_level,
            api_token=settings.sandbox_token,
            webhook_secret=(
                settings.replicate_webhook_secret.get_secret_value()
                if settings.replicate_webhook_secret
                else None
            ),
            **options,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        raise click.BadParameter(describe_validation_error(exc)) from None
    run_sandbox(config)
