"""The scripts list's rows as a fragment (`/studio/live`): htmx polls it every few seconds
while a script of the list is active (generating, a retake on its way, compiling) and stops
once none is, so the list follows the work without a reload."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db.database import Database
from vsl_pipelines.web.deps import ConfigDep, check_host
from vsl_pipelines.web.studio import views
from vsl_pipelines.web.studio.pages import StudioRoute, page
from vsl_pipelines.web.studio.routes import Session

router = APIRouter(
    route_class=StudioRoute, dependencies=[Depends(check_host)], include_in_schema=False
)


def _listed(db: Database, status: str | None, workspace_id: int) -> list[views.ScriptSummary]:
    with db.connect() as conn:
        return views.script_list(conn, status, workspace_id)


@router.get("/live", response_class=HTMLResponse, name="studio_scripts_live")
async def scripts_live(
    request: Request, user: Session, config: ConfigDep, status: str | None = None
) -> HTMLResponse:
    """The scripts list's rows, as `/studio?status=...` lists them."""
    if status is not None and status not in views.STATUSES:
        status = None
    listed = await run_in_threadpool(_listed, config.db, status, user.actor.workspace_id)
    return page("scripts_live.html", request, scripts=listed, status=status)
