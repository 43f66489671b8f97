"""A voice's sample under `/studio/voices/{model}/{voice}`: the editor's player of each voice
sends people here, and they are sent on to the stored sample (made once, on the first listen:
services/voice_samples.py). Any signed-in member may listen to a stored sample, for free; the
first listen of a voice is spend of the listener's workspace, a writer's to make (a viewer gets
403), refused (402) when its monthly budget has no room for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.generation.stages import BudgetExceeded
from vsl_pipelines.services.voice_samples import (
    SampleNotAllowed,
    SampleUnavailable,
    sample_voices,
    voice_sample,
)
from vsl_pipelines.web.deps import ConfigDep, check_host
from vsl_pipelines.web.studio.pages import StudioRoute
from vsl_pipelines.web.studio.routes import Session

router = APIRouter(
    route_class=StudioRoute, dependencies=[Depends(check_host)], include_in_schema=False
)
Name = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


@router.get("/{model_id}/{voice}", response_class=RedirectResponse, name="studio_voice_sample")
async def voice_sample_page(
    user: Session, model_id: Name, voice: Name, config: ConfigDep
) -> RedirectResponse:
    """To the sample of `model_id` speaking in `voice` (404: not one of its voices; 503: no
    prediction service here; 403: a new sample a viewer may not make; 402: a new sample the
    workspace's budget has no room for; 502: the
    model could not speak it now)."""
    spec = config.registry.models.get(model_id)
    if spec is None or voice not in sample_voices(spec):
        raise HTTPException(404, f"{model_id!r} has no voice {voice!r} to listen to")
    if config.predictions is None:
        raise HTTPException(503, "voice samples need the prediction service, not set up here")
    try:
        key = await run_in_threadpool(
            voice_sample,
            config.media_store,
            config.predictions,
            spec,
            voice,
            db=config.db,
            actor=user.actor,
        )
    except BudgetExceeded as exc:  # nothing was made or stored
        raise HTTPException(
            402,
            f"budget: {exc}; a sample of {voice!r} would be made now, so it is not"
            " (voices already sampled still play)",
        ) from None
    except SampleNotAllowed as exc:  # nothing was made or stored
        raise HTTPException(403, str(exc)) from None
    except SampleUnavailable as exc:
        raise HTTPException(502, str(exc)) from None
    return RedirectResponse(config.media_store.public_url(key), status_code=303)
