"""`GET /metrics`: the flow's metrics in Prometheus text format, for a local Prometheus or an
operator's curl; the same rules as `/api` (an allowed `Host`, loopback or the API key)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.web.deps import check_host, require_api_key

router = APIRouter(dependencies=[Depends(check_host), Depends(require_api_key)])


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Every metric, read from the database at this scrape (off the event loop)."""
    body = await run_in_threadpool(request.app.state.render_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
