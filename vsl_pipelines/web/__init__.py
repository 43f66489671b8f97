"""The HTTP service: Replicate's webhook receiver (`webhooks`), health (`health`), the local media
folder (`media`), the integrators' API (`api/`), the reviewers' page (`review/`, HTML from
`templates/`), the studio (`studio/`).

`app.create_app` wires them around an inbox; `server` runs it from settings or in a thread;
`deps` holds what `/api` and `/review` handlers depend on, the access rule among them.
"""

from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
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
    "ApiConfig",
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
