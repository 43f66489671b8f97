"""The HTTP service, wired: Replicate's webhook receiver (`webhooks`), a health check (`health`),
the local media folder (`media`) and, when configured, the integrators' JSON API under `/api`,
the reviewers' page under `/review` and the marketers' studio under `/studio`.

`create_app` only wires: middleware (every route's body bounded while it streams,
`limits.BodyLimitMiddleware`), what the routes read from the app's state, and the routers.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect
from starlette.staticfiles import StaticFiles

from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.metrics.prometheus import metrics_renderer
from vsl_pipelines.services.webhook_collection import WebhookCollector
from vsl_pipelines.storage.signing import MediaUrlSigner
from vsl_pipelines.web import api as api_routes
from vsl_pipelines.web import health, media, watch, webhooks
from vsl_pipelines.web import metrics as metrics_routes
from vsl_pipelines.web import review as review_routes
from vsl_pipelines.web import studio as studio_routes
from vsl_pipelines.web.access_log import ApiAccessLog
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.errors import client_left, invalid_request
from vsl_pipelines.web.limits import BodyLimitMiddleware, BodyLimits
from vsl_pipelines.web.signatures import WebhookVerifier
from vsl_pipelines.web.studio import admin as studio_admin
from vsl_pipelines.web.studio import costs as studio_costs
from vsl_pipelines.web.studio import documents as studio_documents
from vsl_pipelines.web.studio import review as studio_review
from vsl_pipelines.web.studio import scripts_live as studio_scripts_live
from vsl_pipelines.web.studio import variants as studio_variants
from vsl_pipelines.web.studio import voices as studio_voices
from vsl_pipelines.web.studio.oidc import FLOW_COOKIE, FLOW_MAX_AGE_S, OidcSignIn
from vsl_pipelines.web.studio.session import derive_session_secret

STATIC_DIR = Path(__file__).parent / "static"  # htmx and the studio's script and styles


def create_app(
    inbox: WebhookInbox,
    secret: str,
    media_root: Path | None,
    *,
    api: ApiConfig | None = None,
    limits: BodyLimits | None = None,
    media_signer: MediaUrlSigner | None = None,
    collector: WebhookCollector | None = None,
) -> FastAPI:
    """The app writing verified webhooks to `inbox`, serving `media_root`, `api` and `/review`;
    every body bounded by `limits` (default: `limits.ROUTE_LIMITS`); final webhooks' outputs
    collected by `collector` as they are stored (None: by the collecting runs alone)."""
    app = FastAPI(
        title="VSL Pipelines service",
        docs_url=None,
        redoc_url=None,
        # Beside the API it describes, so a client's base URL `https://HOST/api` finds it.
        openapi_url="/api/openapi.json",
        exception_handlers={RequestValidationError: invalid_request, ClientDisconnect: client_left},
    )
    app.add_middleware(BodyLimitMiddleware, limits=limits or BodyLimits())
    if api is not None and api.cors_origins:
        # Browsers on these origins may read (download) what the API serves; writes stay
        # same-site (no preflight for them is ever answered).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api.cors_origins),
            allow_methods=["GET", "HEAD"],
            allow_headers=["X-API-Key", "Authorization"],
            max_age=600,
        )
    app.add_middleware(ApiAccessLog)

    app.state.inbox = inbox  # what the webhook receiver stores into and `/healthz` pings
    app.state.webhook_verifier = WebhookVerifier(secret)
    app.state.collector = collector  # what a final webhook is handed to once stored
    app.state.media_root = media_root  # what `/media/...` serves (None: 404)
    app.state.media_signer = media_signer  # what `/media/...` checks URLs with (None: open)
    # On the app's own router, not included: the hottest path (webhooks.py says why).
    app.router.add_route(webhooks.PATH, webhooks.receive_replicate_webhook, methods=["POST"])
    app.include_router(health.router)
    app.include_router(media.router)

    if api is not None:
        app.state.api_config = api  # what `deps.get_config` hands the handlers
        app.state.render_metrics = metrics_renderer(api.db)
        # Signs studio sessions and form tokens, the same on every worker and replica.
        app.state.session_secret = api.session_secret or derive_session_secret(secret)
        app.state.oidc = OidcSignIn(api.oidc) if api.oidc is not None else None
        if api.oidc is not None:
            # Authlib keeps a sign-in's state, nonce and PKCE verifier here between the
            # redirect to the provider and the callback.
            app.add_middleware(
                SessionMiddleware,
                secret_key=app.state.session_secret.hex(),
                session_cookie=FLOW_COOKIE,
                max_age=FLOW_MAX_AGE_S,
                path="/studio",
                same_site="lax",
            )
        app.include_router(api_routes.router, prefix="/api")
        app.include_router(review_routes.router, prefix="/review")
        app.mount("/studio/static", StaticFiles(directory=STATIC_DIR), name="studio_static")
        app.include_router(studio_review.router, prefix="/studio/review")
        app.include_router(studio_routes.router, prefix="/studio")
        app.include_router(studio_documents.router, prefix="/studio")
        app.include_router(studio_admin.router, prefix="/studio/admin")
        app.include_router(studio_costs.router, prefix="/studio/costs")
        app.include_router(studio_scripts_live.router, prefix="/studio")
        app.include_router(studio_variants.router, prefix="/studio")
        app.include_router(studio_voices.router, prefix="/studio/voices")
        app.include_router(metrics_routes.router)
        app.include_router(watch.router)  # the landing-page player, public
    return app
