"""The original system's two first calls: `POST /api/generate-media` (a one-off generation)
and `GET /api/status/{jobId}` (any job's status, ad-hoc or a script's, through the layers)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.job_document import served
from vsl_pipelines.domain.script import ModelId, UserId
from vsl_pipelines.generation.stages import BudgetExceeded
from vsl_pipelines.services.adhoc import AdhocInvalid, AdhocNotCreated, plan_adhoc, submit_adhoc
from vsl_pipelines.web.access import Viewer, Writer
from vsl_pipelines.web.api.bodies import parse_body
from vsl_pipelines.web.api.openapi import ErrorAnswer, request_body
from vsl_pipelines.web.deps import ConfigDep, default_workspace_id
from vsl_pipelines.web.limits import GENERATE_BODY_LIMIT

router = APIRouter()
status_router = APIRouter()


class GenerateMediaBody(BaseModel):
    """The original request: who asks, what kind of media, which model, its parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    userId: UserId | None = Field(
        default=None, description="required unless the API key names its user"
    )
    mediaType: Literal["image", "video", "audio"]
    modelId: ModelId
    parameters: dict[str, Any] = Field(default_factory=dict)


class GenerateMediaAnswer(BaseModel):
    jobId: str
    status: Literal["pending"]
    estimatedTime: float
    estimatedCost: float
    warnings: list[str] | None = Field(
        default=None,
        description="What was read differently from what was sent (the original's width/height"
        " as a model's nearest aspect_ratio); absent when nothing was",
    )


class JobResult(BaseModel):
    originalUrl: str
    thumbnailUrl: str | None = None
    fileSize: int | None = None
    contentType: str | None = None
    width: int | None = None
    height: int | None = None
    durationS: float | None = None


class JobStatusAnswer(BaseModel):
    jobId: str
    status: Literal["pending", "processing", "completed", "failed"]
    userId: str | None
    mediaType: Literal["image", "video", "audio"]
    modelId: str
    predictionId: str | None
    createdAt: str
    completedAt: str | None
    estimatedCost: float | None
    actualCost: float | None = Field(
        description="What Replicate bills for the prediction, once it ended (see costSource)"
    )
    costSource: Literal["billed", "estimated"] | None = Field(
        default=None,
        description="billed: computed from Replicate's figures (predict_time x the hardware's"
        " rate, or outputs x the price per output); estimated: the figures are missing",
    )
    predictTime: float | None = Field(
        default=None, description="Replicate's seconds of active processing (metrics.predict_time)"
    )
    result: JobResult | None
    error: str | None
    scriptId: str | None = None
    sectionId: str | None = None
    stage: str | None = None


async def generate_body(request: Request) -> GenerateMediaBody:
    raw = await request.body()
    if len(raw) > GENERATE_BODY_LIMIT:
        raise HTTPException(413, f"request body: larger than {GENERATE_BODY_LIMIT} bytes")
    body: GenerateMediaBody = await run_in_threadpool(
        parse_body, raw, request.headers.get("content-type", ""), GenerateMediaBody
    )
    return body


@router.post(
    "/generate-media",
    status_code=202,
    response_model=GenerateMediaAnswer,
    response_model_exclude_none=True,
    openapi_extra=request_body({"application/json": GenerateMediaBody}, "one generation"),
    responses={
        402: {
            "description": "Over the workspace's monthly budget (nothing reserved)",
            "model": ErrorAnswer,
        },
        502: {"description": "Replicate refused or kept failing the prediction"},
    },
)
def generate_media(
    actor: Writer,
    body: Annotated[GenerateMediaBody, Depends(generate_body)],
    config: ConfigDep,
) -> dict[str, Any]:
    """Check the request against the model registry (nothing is spent on a bad one), create
    the prediction with the webhook in the caller's workspace, answer 202 with the job id to
    follow."""
    key_user = actor.user_id
    if key_user is not None and body.userId not in (None, key_user):
        raise HTTPException(403, f"userId: this API key acts for user {key_user!r} only")
    user_id = body.userId or key_user
    if user_id is None:
        raise HTTPException(422, "userId: required (this API key names no user)")
    try:
        plan = plan_adhoc(config.registry, body.mediaType, body.modelId, body.parameters)
    except AdhocInvalid as exc:
        raise HTTPException(422, str(exc)) from None
    if config.predictions is None:
        raise HTTPException(503, "generation is not configured on this service")
    try:
        return submit_adhoc(config.db, config.predictions, plan, actor, user_id, config.job_status)
    except AdhocNotCreated as exc:
        raise HTTPException(502, f"job {exc.job_id} failed: {exc}") from None
    except BudgetExceeded as exc:  # nothing was stored or spent
        raise HTTPException(402, f"budget: {exc}") from None


def document_workspace(document: dict[str, Any], db: Database) -> int:
    """The workspace of a job's document (one cached before workspaces existed is
    `default`'s: every job then was)."""
    workspace = document.get("workspaceId")
    return int(workspace) if workspace is not None else default_workspace_id(db)


@status_router.get(
    "/status/{job_id}", response_model=JobStatusAnswer, response_model_exclude_none=False
)
def job_status(job_id: str, actor: Viewer, config: ConfigDep, request: Request) -> JSONResponse:
    """A job of the caller's workspace: its status and, once stored, its result (from Redis,
    the jobs table, then PostgreSQL)."""
    try:
        public_id = str(uuid.UUID(job_id))
    except ValueError:
        raise HTTPException(422, "jobId: not a job id (a UUID)") from None
    if getattr(request.state, "status_document", None) is not None:
        # Read with the key in one round trip (`deps.StatusKeyRequired`).
        document = request.state.status_document
        config.job_status.count("redis")
    elif hasattr(request.state, "status_document"):  # Redis was asked and does not hold it
        document, _layer = config.job_status.read(public_id, first=1)
    else:
        document, _layer = config.job_status.read(public_id)
    if document is None or document_workspace(document, config.db) != actor.workspace_id:
        raise HTTPException(404, f"no job {job_id!r}")
    return JSONResponse(served(document, config.media_store.public_url))
