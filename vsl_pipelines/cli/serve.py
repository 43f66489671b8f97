"""`vsl serve`: the webhook receiver, media server, API and review page on one port."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on [default: $VSL_SERVICE_HOST].")
@click.option("--port", default=None, type=int, help="Port [default: $VSL_SERVICE_PORT or 8080].")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes sharing the port (each with its own connection pool).",
)
def serve_command(host: str | None, port: int | None, workers: int) -> None:
    """Receive Replicate webhooks into the inbox, serve the media folder, `/api` and `/review`."""
    from vsl_pipelines.settings import get_settings
    from vsl_pipelines.web.server import WebhookSecretUnavailable, run_service

    settings = get_settings()
    try:
        run_service(
            host=host or settings.service_host, port=port or settings.service_port, workers=workers
        )
    except WebhookSecretUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
