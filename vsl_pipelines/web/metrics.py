"""`GET /metrics`: the flow's metrics in Prometheus text format, for a local Prometheus or an
operator's curl: an operator's endpoint (an allowed `Host`, and loopback while no key is set
or the bootstrap key `VSL_API_KEY`; a workspace's key, even an admin's, gets 403: the figures
are every workspace's)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.web.access import ActorDep
from vsl_pipelines.web.deps import check_host, require_api_key

router = APIRouter(dependencies=[Depends(check_host), Depends(require_api_key)])


@router.get("/metrics")
async def metrics(request: Request, actor: ActorDep) -> Response:
    """Every metric, read from the database at this scrape (off the event loop)."""
    if not actor.operator:
        raise HTTPException(
            403, "/metrics is the operator's: the bootstrap key (VSL_API_KEY), or loopback"
        )
    body = await run_in_threadpool(request.app.state.render_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
