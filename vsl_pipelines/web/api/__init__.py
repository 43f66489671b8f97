"""The integrators' JSON API under `/api`, one router per resource behind the shared rules:
an allowed `Host`, the access rule, and for writes a same-site JSON or YAML request.

Handlers are thin: they take parsed bodies and call the same services as the `vsl` command.
"""

from fastapi import APIRouter, Depends

from vsl_pipelines.web.api import (
    audit,
    compilations,
    costs,
    events,
    generate,
    review,
    scripts,
    variants,
    video,
)
from vsl_pipelines.web.api.openapi import error_responses
from vsl_pipelines.web.deps import (
    ApiConfig,
    check_host,
    guard_api_writes,
    require_api_key,
    require_status_key,
)

router = APIRouter(responses=error_responses())
_rules = [Depends(check_host), Depends(require_api_key), Depends(guard_api_writes)]
for resource in (scripts, review, video, compilations, costs, generate, audit, variants):
    router.include_router(resource.router, dependencies=_rules)
# The status read: the same rules, its access rule reading the document in the same Redis
# round trip as the key.
router.include_router(
    generate.status_router,
    dependencies=[Depends(check_host), Depends(require_status_key), Depends(guard_api_writes)],
)
# The landing-page player's events: public, each post signed for its cut (`events`).
router.include_router(events.router, dependencies=[Depends(check_host)])

__all__ = ["ApiConfig", "router"]
