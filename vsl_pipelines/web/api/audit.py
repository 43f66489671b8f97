"""`/api/audit`: the caller's workspace's audit log, newest first (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from vsl_pipelines.db import audit
from vsl_pipelines.web.access import Admin
from vsl_pipelines.web.deps import ConfigDep

router = APIRouter()


class AuditEntry(BaseModel):
    id: int
    actor: str
    action: str
    object: str
    detail: dict[str, Any]
    createdAt: datetime


@router.get("/audit")
def audit_log(
    actor: Admin,
    config: ConfigDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[AuditEntry]:
    """Every write in the workspace (who, what, on which object, when), newest first; `before`
    an entry's id pages back."""
    with config.db.connect() as conn:
        rows = audit.entries(conn, actor.workspace_id, limit=limit, before=before)
    return [
        AuditEntry(
            id=r.id,
            actor=r.actor,
            action=r.action,
            object=r.object,
            detail=r.detail,
            createdAt=r.created_at,
        )
        for r in rows
    ]
