"""`/api/scripts/{id}/compile` and `/api/compilations/{id}`: ask for a compile (format, quality,
output options) and follow it. The request is recorded; a Dagster sensor launches the run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from vsl_pipelines.db.compilations import CompilationRow
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.compilation import (
    CompilationNotFound,
    CompileInFlight,
    NotApproved,
    compilation_of,
    request_compile,
)
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.access import OwnCompilation, OwnScript, Reviewer, Viewer
from vsl_pipelines.web.api.bodies import CompileBody, compile_body
from vsl_pipelines.web.api.openapi import request_body
from vsl_pipelines.web.deps import ConfigDep
from vsl_pipelines.web.errors import http_errors

log = get_logger("vsl_pipelines.web.api")

router = APIRouter()

MAX_ROW_ID = 2**63 - 1  # bigserial
COMPILE_BODY = request_body(
    {"application/json": CompileBody},
    "format, quality and overrides of the script's output options (`{}`: the script's own)",
)


class SectionTiming(BaseModel):
    """A section of a compiled video and its voice: seconds of voice, of the clip (null for a
    still) and of the section, and what was done to the clip (hold, slow, loop, trim, none,
    still) and why. All null for a section without a voice."""

    voice_s: float | None = None
    clip_s: float | None = None
    section_s: float | None = None
    action: str | None = None
    reason: str | None = None


class Compilation(BaseModel):
    """A compilation: requested, running, then succeeded (with its video) or failed."""

    compilationId: int
    scriptId: str
    status: Literal["requested", "running", "succeeded", "failed"]
    compiledVideoUrl: str | None
    videoCount: int | None
    fileSize: int | None
    duration: float | None
    outputFormat: Literal["mp4", "webm", "avi"]
    quality: Literal["draft", "standard", "high"]
    options: dict[str, Any]
    requestedBy: str
    error: str | None
    createdAt: datetime
    completedAt: datetime | None
    sections: list[SectionTiming] | None = Field(
        default=None,
        description="how each section of a compiled video with voices followed its voice"
        " (in order; null without voices)",
    )


def _timings(plan: dict[str, Any] | None) -> list[SectionTiming] | None:
    timings = [clip.get("timing") for clip in (plan or {}).get("clips", [])]
    if not any(timings):
        return None
    return [SectionTiming.model_validate(t) if t else SectionTiming() for t in timings]


def _view(row: CompilationRow, store: MediaStore) -> Compilation:
    published = row.output_key if row.status == "succeeded" else None
    return Compilation(
        compilationId=row.id,
        scriptId=row.script_id,
        status=row.status,
        compiledVideoUrl=store.public_url(published) if published else None,
        videoCount=row.clip_count,
        fileSize=row.size_bytes,
        duration=row.duration_s,
        outputFormat=row.output_format,
        quality=row.quality,
        options=row.options,
        requestedBy=row.requested_by,
        error=row.error,
        createdAt=row.created_at,
        completedAt=row.completed_at,
        sections=_timings(row.plan),
    )


@router.post("/scripts/{script_id}/compile", status_code=202, openapi_extra=COMPILE_BODY)
def compile_script(
    actor: Reviewer,
    body: Annotated[CompileBody, Depends(compile_body)],  # read before any lookup
    script_id: OwnScript,
    config: ConfigDep,
) -> Compilation:
    """Request a compile of the approved takes; 409 while a section's current take is not
    approved or another compilation of the script is requested or running."""
    with http_errors(), config.db.connect() as conn:
        try:
            row = request_compile(
                conn,
                script_id,
                output_format=body.outputFormat,
                quality=body.quality,
                overrides=body.overrides(),
                requested_by=actor.name,
            )
        except (NotApproved, CompileInFlight) as exc:
            raise HTTPException(409, str(exc)) from None
    log.info("api compile requested", extra={"script_id": script_id})
    return _view(row, config.media_store)


@router.get("/compilations/{compilation_id}")
def show_compilation(
    compilation_id: OwnCompilation, actor: Viewer, config: ConfigDep
) -> Compilation:
    """A compilation's status and, once it succeeded, its video's URL."""
    with config.db.connect() as conn:
        try:
            row = compilation_of(conn, compilation_id)
        except CompilationNotFound as exc:
            raise HTTPException(404, str(exc)) from None
    return _view(row, config.media_store)
