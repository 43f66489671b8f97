"""The `vsl serve` command: the webhook receiver and media server on one port."""

from __future__ import annotations

import click

from vsl_pipelines.service.server import WebhookSecretUnavailable, run_service


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
def serve_command(host: str, port: int) -> None:
    """Receive Replicate webhooks into the inbox and serve the local media folder."""
    try:
        run_service(host=host, port=port)
    except WebhookSecretUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
