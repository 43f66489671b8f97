"""One-off generations (`POST /api/generate-media`): checked against the registry before any
spend, then created on Replicate with the webhook, exactly like a script's predictions. The
webhook sensor follows them; the day's `adhoc_media` run collects their outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from vsl_pipelines.db import audit
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow
from vsl_pipelines.domain.original_params import translate
from vsl_pipelines.domain.registry import ModelSpec, Registry, RegistryError
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.generation import budgets
from vsl_pipelines.generation.predictions import PredictionClient, PredictionCreateError
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.metrics import emf as metrics

log = get_logger(__name__)


class AdhocInvalid(ValueError):
    """The request does not fit the registry; `field` names the body field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AdhocNotCreated(RuntimeError):
    """Replicate refused or kept failing the prediction; the job is recorded as failed."""

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass(frozen=True)
class AdhocPlan:
    spec: ModelSpec
    model_input: dict[str, Any]
    estimated_cost_usd: float
    warnings: tuple[str, ...] = ()  # what was read differently from what was sent


def plan_adhoc(
    registry: Registry, media_type: str, model_id: str, parameters: dict[str, Any]
) -> AdhocPlan:
    """The model and its checked input, or `AdhocInvalid` naming the field."""
    try:
        spec = registry.get(model_id)
    except RegistryError as exc:
        raise AdhocInvalid("modelId", str(exc)) from None
    if spec.kind != media_type:
        raise AdhocInvalid("mediaType", f"model {model_id!r} makes {spec.kind}, not {media_type}")
    translated = translate(spec, parameters)
    try:
        model_input = spec.build_input(translated.parameters)
        cost = spec.estimate_cost(model_input)
    except RegistryError as exc:
        raise AdhocInvalid("parameters", str(exc)) from None
    text_input = spec.text_input or "prompt"  # what a text-to-speech model speaks
    prompt = model_input.get(text_input)
    if spec.task.startswith("text-to") and (not isinstance(prompt, str) or not prompt.strip()):
        raise AdhocInvalid(
            f"parameters.{text_input}", f"model {model_id!r} needs a {text_input} (text)"
        )
    if spec.image_input is not None:
        image = model_input.get(spec.image_input)
        if not isinstance(image, str) or urlsplit(image).scheme not in ("http", "https"):
            raise AdhocInvalid(
                f"parameters.{spec.image_input}",
                f"model {model_id!r} makes video from an image: give its http(s) URL",
            )
    return AdhocPlan(spec, model_input, cost, tuple(translated.warnings))


def submit_adhoc(
    db: Database,
    client: PredictionClient,
    plan: AdhocPlan,
    actor: Actor,
    user_id: str,
    status: JobStatusLayers,
) -> dict[str, Any]:
    """Record the job in the actor's workspace (and in its audit log), create its prediction
    (with the webhook), publish its status; the original answer `{"jobId", "status",
    "estimatedTime", "estimatedCost"}`."""
    with db.connect() as conn:
        row = reserve_job(
            conn, actor, user_id, plan.spec, plan.model_input, plan.estimated_cost_usd
        )
        audit.record(
            conn,
            actor.workspace_id,
            actor.name,
            "adhoc.requested",
            f"job:{row.public_id}",
            {
                "model": plan.spec.id,
                "user_id": user_id,
                "estimated_cost_usd": plan.estimated_cost_usd,
            },
        )
    job_id = str(row.public_id)
    context: dict[str, str | int | None] = {
        "job_id": row.id,
        "user_id": user_id,
        "model_id": plan.spec.id,
        "media_type": plan.spec.kind,
    }
    try:
        prediction = create_for_job(db, client, plan.spec, plan.model_input, row)
    except PredictionNotCreated as exc:
        status.publish([row.id])
        log.error(
            "ad-hoc prediction not created",
            extra={**context, "fields": {"jobId": job_id, "error": exc.reason}},
        )
        raise AdhocNotCreated(exc.reason, job_id) from None
    status.publish([row.id])
    metrics.record(
        {"JobsStarted": 1, "CostUSD": plan.estimated_cost_usd},
        action="job_started",
        **context,
    )
    log.info(
        "ad-hoc prediction submitted",
        extra={**context, "prediction_id": prediction["id"], "fields": {"jobId": job_id}},
    )
    return {
        "jobId": job_id,
        "status": "pending",
        "estimatedTime": plan.spec.estimated_time,
        "estimatedCost": round(plan.estimated_cost_usd, 6),
        **({"warnings": list(plan.warnings)} if plan.warnings else {}),
    }


class PredictionNotCreated(RuntimeError):
    """A job's prediction was never created (refused, or Replicate out of reach): the job is
    failed and counts nothing; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reserve_job(
    conn: Conn,
    actor: Actor,
    user_id: str,
    spec: ModelSpec,
    model_input: dict[str, Any],
    cost: float,
) -> JobRow:
    """A job outside any script (an ad-hoc request, a voice sample), its estimate reserved
    under the workspace's lock first (BudgetExceeded: nothing written)."""
    budgets.reserve(conn, actor.workspace_id, cost)
    return job_rows.reserve_adhoc_job(
        conn,
        workspace_id=actor.workspace_id,
        user_id=user_id,
        media_type=spec.kind,
        model_id=spec.id,
        model_input=model_input,
        estimated_cost_usd=cost,
        pricing=spec.pricing.document(),
    )


def create_for_job(
    db: Database,
    client: PredictionClient,
    spec: ModelSpec,
    model_input: dict[str, Any],
    job: JobRow,
) -> dict[str, Any]:
    """`job`'s prediction, created and attached to it; one never created fails the job and is
    PredictionNotCreated."""
    try:
        prediction = client.create(
            spec, model_input, reserved_at=job.created_at, claimed=job_rows.claimed_in(db)
        )
    except Exception as exc:  # refused, or Replicate unreachable even for the dedupe search
        reason = (
            str(exc)
            if isinstance(exc, PredictionCreateError)
            else f"Replicate could not be reached ({type(exc).__name__})"
        )
        with db.connect() as conn:
            job_rows.mark(conn, job.id, "failed", error=reason)
        raise PredictionNotCreated(reason) from None
    with db.connect() as conn:
        job_rows.attach_prediction(conn, job.id, prediction)
    return prediction
