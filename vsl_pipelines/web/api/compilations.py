"""`/api/scripts/{id}/compile` and `/api/compilations/{id}`: ask for a compile (format, quality,
output options: renditions, reframe and delivery switches too) and follow it, down to each
cut's renditions and delivery files. The request is recorded; a Dagster sensor launches the run.

Clients of the original system waited for the compile's answer: with `Prefer: wait=N`
(RFC 7240, at most `MAX_WAIT_S`) the request waits for the video and answers the original's
shape, `{"success": true, "data": {"compiledVideoUrl", "videoCount", "fileSize", "duration"}}`
(`duration`: the compile's milliseconds, as there), else the compilation to follow (202).
An explicit compile while the automatic one (started by the last approval) runs answers with
that compilation rather than a 409."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.compilations import CompilationRow
from vsl_pipelines.db.watch import CutRow, cuts_of_compilation
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.compilation import (
    CompilationNotFound,
    CompileInFlight,
    NotApproved,
    compilation_of,
    request_compile,
)
from vsl_pipelines.services.cut_files import cut_files
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.access import OwnCompilation, OwnScript, Reviewer, Viewer
from vsl_pipelines.web.api.bodies import CompileBody, compile_body
from vsl_pipelines.web.api.openapi import request_body
from vsl_pipelines.web.deps import ConfigDep
from vsl_pipelines.web.errors import http_errors

log = get_logger("vsl_pipelines.web.api")

router = APIRouter()

MAX_ROW_ID = 2**63 - 1  # bigserial
MAX_WAIT_S = 300  # the longest `Prefer: wait` honoured
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)
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


class RenditionDelivery(BaseModel):
    """A rendition's own landing-page files, when the compile made them."""

    hlsMasterUrl: str | None = None
    posterUrl: str | None = None


class Rendition(BaseModel):
    """One final video of a cut at one aspect."""

    aspect: str = Field(description="W:H, e.g. 9:16")
    width: int | None
    height: int | None
    duration: float | None = Field(description="seconds of video")
    fileSize: int | None
    url: str = Field(description="the media URL (presigned on S3)")
    delivery: RenditionDelivery | None = None


class Delivery(BaseModel):
    """A cut's files for a landing page (media URLs, presigned on S3); null where not made."""

    hlsMasterUrl: str | None = None
    posterUrl: str | None = None
    captions: dict[str, str] = Field(
        default_factory=dict, description="caption file URL by format (`vtt`, `srt`)"
    )
    chaptersUrl: str | None = None


class Cut(BaseModel):
    """One cut of a compilation: a combination of hook variants (`main` without any), its
    video, renditions and delivery files, and its landing page."""

    variant: str
    compiledVideoUrl: str | None
    watchPath: str = Field(description="its public watch page, relative to the service")
    renditions: list[Rendition] = Field(
        default_factory=list,
        description="one video per aspect of `output.renditions` (none: the one video only)",
    )
    delivery: Delivery = Field(default_factory=Delivery)


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
    cuts: list[Cut] = Field(
        default_factory=list,
        description="each cut once it succeeded: one per combination of hook variants",
    )


def _timings(plan: dict[str, Any] | None) -> list[SectionTiming] | None:
    timings = [clip.get("timing") for clip in (plan or {}).get("clips", [])]
    if not any(timings):
        return None
    return [SectionTiming.model_validate(t) if t else SectionTiming() for t in timings]


def _cut(cut: CutRow, row: CompilationRow, store: MediaStore) -> Cut:
    files = cut_files(row.plan, row.output_key, cut.variant)

    def url(key: str | None) -> str | None:
        return store.public_url(key) if key else None

    return Cut(
        variant=cut.variant,
        compiledVideoUrl=url(files.video),
        watchPath=f"/watch/{cut.public_id}",
        renditions=[
            Rendition(
                aspect=r.aspect,
                width=r.width,
                height=r.height,
                duration=r.duration_s,
                fileSize=r.size_bytes,
                url=store.public_url(r.key),
                delivery=RenditionDelivery(hlsMasterUrl=url(r.hls), posterUrl=url(r.poster))
                if r.hls or r.poster
                else None,
            )
            for r in files.renditions
        ],
        delivery=Delivery(
            hlsMasterUrl=url(files.delivery.hls),
            posterUrl=url(files.delivery.poster),
            captions={fmt: store.public_url(key) for fmt, key in files.delivery.captions.items()},
            chaptersUrl=url(files.delivery.chapters),
        ),
    )


def _cuts(row: CompilationRow, cuts: list[CutRow], store: MediaStore) -> list[Cut]:
    """Each cut's video (its own for hook variants, else the compilation's), renditions,
    delivery files and watch page."""
    if row.status != "succeeded":
        return []
    return [_cut(cut, row, store) for cut in cuts]


def _view(row: CompilationRow, store: MediaStore, cuts: list[CutRow] | None = None) -> Compilation:
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
        cuts=_cuts(row, cuts or [], store),
    )


def wait_seconds(prefer: str | None) -> int:
    """The `wait=N` of a `Prefer` header (RFC 7240), at most `MAX_WAIT_S`; 0 without one."""
    found = _WAIT.search(prefer or "")
    return min(int(found.group(1)), MAX_WAIT_S) if found else 0


def _requested(config: Any, script_id: str, body: CompileBody, requested_by: str) -> CompilationRow:
    """The compilation this request made or, while the automatic one (started by the last
    approval) is in flight, that one; 409 otherwise, as before."""
    with http_errors(), config.db.connect() as conn:
        try:
            return request_compile(
                conn,
                script_id,
                output_format=body.outputFormat,
                quality=body.quality,
                overrides=body.overrides(),
                requested_by=requested_by,
            )
        except NotApproved as exc:
            raise HTTPException(409, str(exc)) from None
        except CompileInFlight as exc:
            busy = compilation_rows.in_flight(conn, script_id)
            if busy is None or busy.approval_id is None:
                raise HTTPException(409, str(exc)) from None
            return busy


def _finished(config: Any, compilation_id: int) -> CompilationRow:
    with config.db.connect() as conn:
        return compilation_of(conn, compilation_id)


def _original_answer(row: CompilationRow, store: MediaStore) -> dict[str, Any]:
    """The original system's compile answer for a finished compilation."""
    if row.status != "succeeded" or row.output_key is None:
        return {"success": False, "error": row.error or "the compilation failed"}
    took = row.completed_at - row.started_at if row.completed_at and row.started_at else None
    return {
        "success": True,
        "data": {
            "compiledVideoUrl": store.public_url(row.output_key),
            "videoCount": row.clip_count,
            "fileSize": row.size_bytes,
            "duration": round(took.total_seconds() * 1000) if took is not None else None,
            "videoDuration": row.duration_s,  # seconds of video (not in the original)
            "compilationId": row.id,
        },
    }


@router.post(
    "/scripts/{script_id}/compile",
    status_code=202,
    openapi_extra=COMPILE_BODY,
    responses={
        200: {
            "description": "With `Prefer: wait=N`, the video finished within N seconds: the"
            " original system's `{success, data: {compiledVideoUrl, videoCount, fileSize,"
            " duration (ms)}}` (or `{success: false, error}`)"
        }
    },
)
async def compile_script(
    actor: Reviewer,
    body: Annotated[CompileBody, Depends(compile_body)],  # read before any lookup
    script_id: OwnScript,
    config: ConfigDep,
    # Described in the route's text, not as a schema parameter: a fuzzer's `wait=300` would
    # hold its request for five minutes.
    prefer: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """Request a compile of the approved takes; 409 while a section's current take is not
    approved or another compilation of the script (not the automatic one) is requested or
    running. `Prefer: wait=N`: wait up to N seconds for the video."""
    row = await run_in_threadpool(_requested, config, script_id, body, actor.name)
    log.info("api compile requested", extra={"script_id": script_id})
    wait = wait_seconds(prefer)
    deadline = time.monotonic() + wait
    while wait and row.status in ("requested", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        row = await run_in_threadpool(_finished, config, row.id)
    if wait and row.status in ("succeeded", "failed"):
        return JSONResponse(
            _original_answer(row, config.media_store),
            headers={"Preference-Applied": f"wait={wait}"},
        )
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
        cuts = cuts_of_compilation(conn, row.id)
    return _view(row, config.media_store, cuts)
