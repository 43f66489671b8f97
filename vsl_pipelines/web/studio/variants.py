"""The studio's publishing of a script: beside the final video, the watch link, the embed snippet
and the split link (`/studio/scripts/{id}/publish`, a fragment the script page loads); and the
variant report (`/studio/scripts/{id}/variants`): retention per cut as a chart and the numbers
of `GET /api/scripts/{id}/variants` as a table (viewers and above, their workspace)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.watch import publication, script_report
from vsl_pipelines.web.access import require_role, require_script
from vsl_pipelines.web.deps import ConfigDep, ScriptId, check_host
from vsl_pipelines.web.studio import charts
from vsl_pipelines.web.studio.pages import StudioRoute, page
from vsl_pipelines.web.studio.routes import Session

router = APIRouter(
    route_class=StudioRoute, dependencies=[Depends(check_host)], include_in_schema=False
)


def embed_snippet(watch_url: str, title: str) -> str:
    """The HTML a marketer pastes into a landing page: the player in a 16:9 frame."""
    safe_title = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (
        '<div style="position:relative;padding-top:56.25%">'
        f'<iframe src="{watch_url}" title="{safe_title}" allow="autoplay; fullscreen"'
        ' allowfullscreen loading="lazy" style="position:absolute;inset:0;width:100%;'
        'height:100%;border:0"></iframe></div>'
    )


@router.get("/scripts/{script_id}/publish", response_class=HTMLResponse)
async def publish(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """The watch link, embed snippet and split link of the script's latest cut."""
    require_role(user.actor, Role.VIEWER)
    await run_in_threadpool(require_script, config.db, user.actor, script_id)
    found = await run_in_threadpool(publication, config.db, script_id)
    origin = f"{request.url.scheme}://{request.url.netloc}"
    context: dict[str, Any] = {"script_id": script_id, "found": found}
    if found is not None:
        context |= {
            "watch_url": f"{origin}/watch/{found.cut}",
            "split_url": f"{origin}/watch/s/{found.split_link}",
            "snippet": embed_snippet(f"{origin}/watch/{found.cut}", script_id),
        }
    return page("publish.html", request, **context)


@router.get("/scripts/{script_id}/variants", response_class=HTMLResponse)
async def variants(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """Which hook wins: the script's cuts, their retention and P(best)."""
    require_role(user.actor, Role.VIEWER)
    await run_in_threadpool(require_script, config.db, user.actor, script_id)
    report = await run_in_threadpool(
        script_report, config.db, script_id, min_viewers=config.variant_min_viewers
    )
    return page(
        "variants.html",
        request,
        script_id=script_id,
        report=report,
        chart=charts.retention_by_cut(report),
    )
