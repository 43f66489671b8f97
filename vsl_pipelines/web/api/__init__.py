"""The integrators' JSON API under `/api`, one router per resource behind the access rule.

Handlers are thin: they take parsed bodies and call the same services as the `vsl` command.
"""

from fastapi import APIRouter, Depends

from vsl_pipelines.web.api import review, scripts, video
from vsl_pipelines.web.deps import ApiConfig, require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])
router.include_router(scripts.router)
router.include_router(review.router)
router.include_router(video.router)

__all__ = ["ApiConfig", "router"]
