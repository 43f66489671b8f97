"""`POST /api/events`: the landing-page player's reports (view, play, progress quartiles, unmute,
CTA click). No key: the page is public. Each post carries the signature its cut's page was
served with (403 without it), is bounded (`limits.EVENT_BODY_LIMIT`, 413), well formed (422)
and within its client's rate (429, the key-rate limiter: Redis when configured); an event a
viewer already sent for a cut changes nothing, so a replayed post cannot inflate a count.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis import RedisError
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.domain.variant_report import EventKind
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.watch import EventRefused, record_event
from vsl_pipelines.web.deps import ConfigDep
from vsl_pipelines.web.errors import validation_problems
from vsl_pipelines.web.watch import WatchSigner

log = get_logger("vsl_pipelines.web.events")
router = APIRouter(include_in_schema=False)


class WatchEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cut: str = Field(min_length=1, max_length=32)
    sig: str = Field(min_length=1, max_length=64)
    viewer: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    kind: EventKind


@router.post("/events")
async def post_event(request: Request, config: ConfigDep, signer: WatchSigner) -> dict[str, bool]:
    """Record one event of a viewer on a cut; `recorded` is false for one already kept."""
    client = request.client.host if request.client else "unknown"
    try:
        wait_s = config.key_rates.take(f"watch-events:{client}", config.events_per_minute)
    except RedisError:
        # The limiter out of reach: the event is still kept once per viewer, so take it
        # rather than answer a page's beacon with an error.
        log.warning("event rate not counted: Redis unavailable")
        wait_s = None
    if wait_s is not None:
        raise HTTPException(
            429,
            f"more than {config.events_per_minute} events a minute from this client",
            headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
        )
    try:
        event = WatchEvent.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, validation_problems(exc, "body")) from None
    try:
        recorded = await run_in_threadpool(
            record_event, config.db, signer, event.cut, event.sig, event.viewer, event.kind
        )
    except EventRefused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return {"recorded": recorded}
