"""The HTTP service: Replicate's webhook receiver, a health check, the local media folder and,
when configured, the integrators' JSON API under `/api`, the reviewers' page under `/review` and
the marketers' studio under `/studio`.

A webhook is verified, stored in the inbox and answered at once; the sensor does the rest.
Every route's body is bounded while it streams (`limits.BodyLimitMiddleware`); the webhook's
headers are checked before its body is read.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.events import InvalidWebhookBody, summarize_webhook_body, webhook_text
from vsl_pipelines.logs import get_logger
from vsl_pipelines.metrics.prometheus import metrics_renderer
from vsl_pipelines.web import api as api_routes
from vsl_pipelines.web import metrics as metrics_routes
from vsl_pipelines.web import review as review_routes
from vsl_pipelines.web import studio as studio_routes
from vsl_pipelines.web.access_log import ApiAccessLog
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.errors import validation_problems
from vsl_pipelines.web.limits import BodyLimitMiddleware, BodyLimits
from vsl_pipelines.web.signatures import (
    WebhookBodyNotUtf8,
    WebhookVerificationError,
    WebhookVerifier,
)
from vsl_pipelines.web.studio.session import derive_session_secret

log = get_logger("vsl_pipelines.web.webhooks")

MAX_WEBHOOK_ID_LENGTH = 256
STATIC_DIR = Path(__file__).parent / "static"  # htmx and the studio's script and styles
# Larger verified bodies are parsed on a worker thread (a 1 MiB body takes milliseconds).
PARSE_ON_LOOP_MAX_CHARS = 64 * 1024


def create_app(
    inbox: WebhookInbox,
    secret: str,
    media_root: Path | None,
    *,
    api: ApiConfig | None = None,
    limits: BodyLimits | None = None,
) -> FastAPI:
    """The app writing verified webhooks to `inbox`, serving `media_root`, `api` and `/review`;
    every body bounded by `limits` (default: `limits.ROUTE_LIMITS`)."""
    verifier = WebhookVerifier(secret)
    app = FastAPI(
        title="VSL Pipelines service",
        docs_url=None,
        redoc_url=None,
        # Beside the API it describes, so a client's base URL `https://HOST/api` finds it.
        openapi_url="/api/openapi.json",
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

    async def receive_replicate_webhook(request: Request) -> JSONResponse:
        """Verify, store once by `webhook-id`, answer; nothing else happens here."""
        try:  # before a byte of the body is read
            webhook_id = verifier.check_headers(request.headers)
        except WebhookVerificationError as exc:
            return _refused_signature(request, exc)
        if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH:
            _log_webhook("rejected_body", webhook_id, reason="webhook-id too long")
            return JSONResponse({"detail": "webhook-id is too long"}, status_code=400)
        body = await request.body()  # at most the route's limit (413 past it)
        try:
            verifier.verify(request.headers, body)
        except WebhookBodyNotUtf8 as exc:
            _log_webhook("rejected_body", webhook_id, reason=str(exc))
            return JSONResponse({"detail": f"invalid webhook body: {exc}"}, status_code=400)
        except WebhookVerificationError as exc:
            return _refused_signature(request, exc)
        try:
            # What the inbox stores is exactly what the sensor will parse (no BOM).
            text = webhook_text(body)
            if len(text) > PARSE_ON_LOOP_MAX_CHARS:  # only a signed sender gets this far
                summary = await run_in_threadpool(summarize_webhook_body, text)
            else:
                summary = summarize_webhook_body(text)
            prediction_id, status = summary
        except InvalidWebhookBody as exc:
            _log_webhook("rejected_body", webhook_id, reason=str(exc))
            return JSONResponse({"detail": f"invalid webhook body: {exc}"}, status_code=400)
        try:
            stored = await inbox.put_async(webhook_id, text, summary=summary)
        except Exception:
            log.exception(
                "webhook inbox_error",
                extra={"webhook_id": webhook_id, "prediction_id": prediction_id},
            )
            # A 5xx makes Replicate retry the final webhook later.
            return JSONResponse({"detail": "inbox unavailable"}, status_code=503)
        outcome = "stored" if stored else "duplicate"
        _log_webhook(outcome, webhook_id, prediction_id=prediction_id, status=status)
        return JSONResponse({"stored": stored})

    # A plain Starlette route: the hottest path skips FastAPI's per-request dependency
    # machinery (it has no parameters to solve); it is Replicate's, not in the API document.
    app.router.add_route("/webhooks/replicate", receive_replicate_webhook, methods=["POST"])

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 once the inbox's storage answers, 503 if it does not."""
        try:
            await run_in_threadpool(inbox.ping)
        except Exception as exc:
            log.warning("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "inbox": inbox.backend}, status_code=503)
        return JSONResponse({"status": "ok", "inbox": inbox.backend})

    # A file server for generation inputs and results, not part of the API document.
    @app.api_route(
        "/media/{key:path}", methods=["GET", "HEAD"], response_model=None, include_in_schema=False
    )
    async def media(key: str) -> FileResponse | JSONResponse:
        """A file of the local media folder, streamed (generation inputs are fetched by URL)."""
        if media_root is None:
            return JSONResponse({"detail": "no local media folder"}, status_code=404)
        path = resolve_media_path(media_root, key)
        if path is None:
            return JSONResponse({"detail": "invalid media key"}, status_code=400)
        try:
            found = path.is_file()
        except OSError:  # e.g. a name the file system cannot hold
            return JSONResponse({"detail": "invalid media key"}, status_code=400)
        if not found:
            return JSONResponse({"detail": "media not found"}, status_code=404)
        return FileResponse(path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422 (a query or path parameter of the wrong type) in the service's
        shape: one `detail` text naming the parameter."""
        return JSONResponse({"detail": validation_problems(exc, "request")}, status_code=422)

    if api is not None:
        app.state.api_config = api  # what `deps.get_config` hands the handlers
        app.state.render_metrics = metrics_renderer(api.database_url)
        # Signs studio sessions and form tokens, the same on every worker and replica.
        app.state.session_secret = api.session_secret or derive_session_secret(secret)
        app.include_router(api_routes.router, prefix="/api")
        app.include_router(review_routes.router, prefix="/review")
        app.mount("/studio/static", StaticFiles(directory=STATIC_DIR), name="studio_static")
        app.include_router(studio_routes.router, prefix="/studio")
        app.include_router(metrics_routes.router)
    return app


MAX_MEDIA_KEY_CHARS = 1024
MAX_MEDIA_SEGMENT_BYTES = 255  # a file name on every file system we run on


def resolve_media_path(media_root: Path, key: str) -> Path | None:
    """The file for `key` inside `media_root`, or None if the key could leave the folder or
    could not name a file (too long, control characters)."""
    if not key or len(key) > MAX_MEDIA_KEY_CHARS or "\\" in key or not key.isprintable():
        return None
    if any(
        len(part.encode("utf-8", "surrogatepass")) > MAX_MEDIA_SEGMENT_BYTES
        for part in key.split("/")
    ):
        return None
    relative = PurePosixPath(key)
    if relative.is_absolute() or any(part in ("..", ".") for part in key.split("/")):
        return None
    root = media_root.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def _refused_signature(request: Request, exc: WebhookVerificationError) -> JSONResponse:
    _log_webhook("rejected_signature", request.headers.get("webhook-id"), reason=str(exc))
    return JSONResponse({"detail": f"invalid webhook signature: {exc}"}, status_code=401)


def _log_webhook(
    outcome: str,
    webhook_id: str | None,
    *,
    prediction_id: str | None = None,
    status: str | None = None,
    reason: str | None = None,
) -> None:
    fields = {"outcome": outcome, "status": status, "reason": reason}
    log.log(
        logging.WARNING if outcome.startswith("rejected") else logging.INFO,
        "webhook %s",
        outcome,
        extra={
            "webhook_id": webhook_id[:MAX_WEBHOOK_ID_LENGTH] if webhook_id else None,
            "prediction_id": prediction_id,
            "fields": {k: v for k, v in fields.items() if v is not None},
        },
    )
