"""`/api/scripts`: submit a script (JSON or YAML), list the stored ones, show one in full."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.domain.script import Script
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.intake import add_script
from vsl_pipelines.services.script_state import script_status
from vsl_pipelines.web.access import OwnScript, Viewer, Writer
from vsl_pipelines.web.api.bodies import BODY_SOURCE, script_document
from vsl_pipelines.web.api.openapi import request_body
from vsl_pipelines.web.deps import YAML_TYPES, ConfigDep
from vsl_pipelines.web.errors import http_errors

log = get_logger("vsl_pipelines.web.api")

router = APIRouter(prefix="/scripts")


SCRIPT_BODY = request_body(
    {"application/json": Script, YAML_TYPES[0]: Script},
    "a script (the YAML format of `vsl scripts add`), as JSON or YAML",
)


@router.post("", status_code=201, openapi_extra=SCRIPT_BODY)
def submit(
    document: Annotated[Any, Depends(script_document)], actor: Writer, config: ConfigDep
) -> dict[str, Any]:
    """Validate, check the budget and store a script in the caller's workspace; 422 names the
    invalid field."""
    with http_errors():
        added = add_script(config.db, document, config.registry, actor=actor, source=BODY_SOURCE)
    summary = added.summary()
    del summary["partition_registered"]  # the scripts sensor registers it
    log.info("api script stored", extra={"script_id": summary["script_id"]})
    return summary


@router.get("")
def list_scripts(actor: Viewer, config: ConfigDep) -> list[dict[str, Any]]:
    """Every script of the caller's workspace with its status."""
    with config.db.connect() as conn:
        rows = script_rows.list_scripts(conn, actor.workspace_id)
    return [
        {
            "script_id": r.id,
            "title": r.title,
            "status": r.status,
            "budget_usd": float(r.budget_usd) if r.budget_usd is not None else None,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


@router.get("/{script_id}")
def show_script(script_id: OwnScript, actor: Viewer, config: ConfigDep) -> dict[str, Any]:
    """Sections, takes, jobs, decisions, cost and compilation of one script."""
    with http_errors(), config.db.connect() as conn:
        return script_status(conn, script_id)
