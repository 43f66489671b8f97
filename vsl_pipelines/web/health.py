"""`GET /healthz`: whether the service can store webhooks, for load balancers, the image's
HEALTHCHECK (`vsl health`) and `vsl dev`; it asks the inbox in the app's state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.logs import get_logger

# The logger health lines have always carried (the webhook service's), so log queries still
# find them.
log = get_logger("vsl_pipelines.web.webhooks")

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 once the inbox's storage answers, 503 if it does not."""
    inbox: WebhookInbox = request.app.state.inbox
    try:
        await run_in_threadpool(inbox.ping)
    except Exception as exc:
        log.warning("health check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "inbox": inbox.backend}, status_code=503)
    return JSONResponse({"status": "ok", "inbox": inbox.backend})
