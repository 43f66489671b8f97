"""The HTTP service: Replicate's webhook receiver and the local media server.

`create_app` builds it around an inbox; `server` runs it from settings or in a thread.
"""

from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.server import (
    RunningService,
    WebhookSecretUnavailable,
    build_app_from_settings,
    fetch_webhook_secret,
    run_service,
    start_service_in_thread,
)
from vsl_pipelines.web.signatures import WebhookVerificationError, WebhookVerifier

__all__ = [
    "RunningService",
    "WebhookSecretUnavailable",
    "WebhookVerificationError",
    "WebhookVerifier",
    "build_app_from_settings",
    "create_app",
    "fetch_webhook_secret",
    "run_service",
    "start_service_in_thread",
]
