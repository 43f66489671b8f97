"""The HTTP service: Replicate's webhook receiver, health, the local media folder (`app`), the
integrators' API (`api/`), the reviewers' page (`review/`, HTML from `templates/`).

`create_app` builds it around an inbox; `server` runs it from settings or in a thread; `deps`
holds what `/api` and `/review` handlers depend on, the access rule among them.
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
