"""The integrators' JSON API under `/api`, one router per resource behind the shared rules:
an allowed `Host`, the access rule, and for writes a same-site JSON or YAML request.

Handlers are thin: they take parsed bodies and call the same services as the `vsl` command.
"""

from fastapi import APIRouter, Depends

from vsl_pipelines.web.api import audit, compilations, costs, generate, review, scripts, video
from vsl_pipelines.web.api.openapi import error_responses
from vsl_pipelines.web.deps import ApiConfig, check_host, guard_api_writes, require_api_key

router = APIRouter(
    responses=error_responses(),
    dependencies=[Depends(check_host), Depends(require_api_key), Depends(guard_api_writes)],
)
router.include_router(scripts.router)
router.include_router(review.router)
router.include_router(video.router)
router.include_router(compilations.router)
router.include_router(costs.router)
router.include_router(generate.router)
router.include_router(audit.router)

__all__ = ["ApiConfig", "router"]
