"""`POST /webhooks/replicate`: Replicate's webhooks, verified, stored in the inbox and answered at
once; a final one is then handed to the app's collector (when it has one), the webhook sensor
does the rest.

The headers are checked before a byte of the body is read; the body is bounded while it streams
(`limits.BodyLimitMiddleware`). The inbox and the verifier come from the app's state.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.events import InvalidWebhookBody, summarize_webhook_body, webhook_text
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.webhook_collection import WebhookCollector
from vsl_pipelines.web.signatures import (
    WebhookBodyNotUtf8,
    WebhookVerificationError,
    WebhookVerifier,
)

log = get_logger("vsl_pipelines.web.webhooks")

PATH = "/webhooks/replicate"
MAX_WEBHOOK_ID_LENGTH = 256
# Larger verified bodies are parsed on a worker thread (a 1 MiB body takes milliseconds).
PARSE_ON_LOOP_MAX_CHARS = 64 * 1024


async def receive_replicate_webhook(request: Request) -> Response:
    """Verify, store once by `webhook-id`, answer; a final webhook stored for the first time is
    queued for the collector (never waited for).

    A plain Starlette endpoint on the app's own router (`create_app`): the hottest path skips
    FastAPI's per-request dependency machinery, having no parameters to solve (2,112 ->
    2,364-2,627 webhooks/s, PERFORMANCE.md), and the layer an included router adds (about 6 us
    a request on FastAPI 0.165). It is Replicate's, not in the API document."""
    verifier: WebhookVerifier = request.app.state.webhook_verifier
    inbox: WebhookInbox = request.app.state.inbox
    try:  # before a byte of the body is read
        webhook_id = verifier.check_headers(request.headers)
    except WebhookVerificationError as exc:
        return _refused_signature(request, exc)
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH:
        _log_webhook("rejected_body", webhook_id, reason="webhook-id too long")
        return JSONResponse({"detail": "webhook-id is too long"}, status_code=400)
    try:
        body = await request.body()  # at most the route's limit (413 past it)
    except ClientDisconnect:
        # The sender went away (or was cut off for sending too slowly) before the whole body
        # came: nothing to verify or store, and no one to answer (Replicate sends it again).
        _log_webhook("rejected_body", webhook_id, reason="the client left before its body ended")
        return Response(status_code=400)
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
    collector: WebhookCollector | None = request.app.state.collector
    if stored and collector is not None and collector.wants(status):
        # After the insert committed: the inbox row is the record, whatever happens to this.
        collector.offer(text)
    return JSONResponse({"stored": stored})


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
