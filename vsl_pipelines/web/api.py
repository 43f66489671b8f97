"""The integrators' JSON API under `/api`: submit scripts, read status, review takes, download.

Handlers are thin: they parse the request and call the same functions as the `vsl` command.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn, connect
from vsl_pipelines.db.scripts import ScriptExists, ScriptNotFound
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import ScriptError
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.intake import add_script
from vsl_pipelines.services.review import ReviewError, decide, review_queue
from vsl_pipelines.services.status import script_status
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.storage.local import LocalMediaStore

log = get_logger("vsl_pipelines.web.api")

BODY_SOURCE = "request body"
MAX_SCRIPT_BYTES = 1_000_000
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm"}


@dataclass(frozen=True)
class ApiConfig:
    """What the API reads and writes; without `api_key` only loopback clients are served."""

    database_url: str
    media_store: MediaStore
    registry: Registry
    api_key: SecretStr | None = None


class ApiError(Exception):
    """An answer other than success, with the `detail` an integrator reads."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = None
    prompt: str | None = None
    seed: int | None = None

    @field_validator("prompt", "seed")
    @classmethod
    def _rejection_only(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("belongs to a rejection (it shapes the next take)")
        return value


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = None
    prompt: str | None = Field(default=None, min_length=1)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


def submit_script(
    database_url: str, document: Any, registry: Registry, source: str = BODY_SOURCE
) -> dict[str, Any]:
    """Validate, check the budget and store one script document; nothing is stored on error."""
    try:
        added = add_script(database_url, document, registry, source=source)
    except ScriptError as exc:
        raise ApiError(422, str(exc)) from None
    except ScriptExists as exc:
        raise ApiError(409, str(exc)) from None
    summary = added.summary()
    del summary["partition_registered"]  # the scripts sensor registers it
    return summary


def record_decision(
    database_url: str,
    script_id: str,
    section_id: str,
    decision: str,
    *,
    reviewer: str = "api",
    **fields: Any,
) -> dict[str, Any]:
    """Append a review decision on the section's current take (as `vsl review` does)."""
    with connect(database_url) as conn:
        try:
            row = decide(conn, script_id, section_id, decision, reviewer=reviewer, **fields)
        except ScriptNotFound as exc:
            raise ApiError(404, str(exc)) from None
        except ReviewError as exc:
            raise ApiError(_review_error_status(conn, script_id, section_id), str(exc)) from None
    return {
        "approval_id": row["id"],
        "script": script_id,
        "section": section_id,
        "take": row["take"],
        "decision": decision,
    }


def _review_error_status(conn: Conn, script_id: str, section_id: str) -> int:
    """404 for an unknown section, 409 while its current take has no clip, else 422."""
    sections = {s["id"]: s for s in script_rows.sections_of(conn, script_id)}
    if section_id not in sections:
        return 404
    take = sections[section_id]["current_take"]
    if take_rows.take_of(conn, script_id, section_id, "clip", take) is None:
        return 409
    return 422


def parse_body(raw: bytes, content_type: str, model: type[BaseModel] | None = None) -> Any:
    """A JSON (or, for scripts, YAML) body; with `model`, validated into it."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if model is None and media_type in YAML_TYPES:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ApiError(422, f"{BODY_SOURCE}: invalid YAML{where}") from None
    if media_type not in ("", "application/json"):
        accepted = "application/json" if model else "application/json or application/yaml"
        raise ApiError(415, f"{BODY_SOURCE}: content type {media_type!r}; send {accepted}")
    if model is not None and not raw.strip():
        raw = b"{}"  # every field of a decision body is optional
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ApiError(422, f"{BODY_SOURCE}: invalid JSON ({exc})") from None
    if model is None:
        return document
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ApiError(422, f"{BODY_SOURCE}: {validation_problems(exc, 'body')}") from None


def validation_problems(exc: ValidationError, whole: str) -> str:
    """`field: message; ...` for each invalid field (`whole` when the error is not a field's)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}" for err in exc.errors()
    )


def create_api_router(config: ApiConfig) -> APIRouter:
    """The `/api` routes on `config`'s database, media store and registry."""
    router = APIRouter(dependencies=[Depends(_access_check(config.api_key))])
    database_url = config.database_url

    @router.post("/scripts", status_code=201)
    async def submit(request: Request) -> dict[str, Any]:
        """Store a script sent as JSON or YAML; 422 names the invalid field."""
        raw = await request.body()
        if len(raw) > MAX_SCRIPT_BYTES:
            raise HTTPException(413, f"{BODY_SOURCE}: larger than {MAX_SCRIPT_BYTES} bytes")
        document = _answer(parse_body, raw, _content_type(request))
        result = await _run(submit_script, database_url, document, config.registry)
        log.info("api script stored", extra={"script_id": result["script_id"]})
        return result

    @router.get("/scripts")
    def list_scripts() -> list[dict[str, Any]]:
        """Every stored script with its status."""
        with connect(database_url) as conn:
            rows = script_rows.list_scripts(conn)
        return [
            {
                "script_id": r["id"],
                "title": r["title"],
                "status": r["status"],
                "budget_usd": float(r["budget_usd"]) if r["budget_usd"] is not None else None,
                "created_at": r["created_at"].isoformat(),
            }
            for r in rows
        ]

    @router.get("/scripts/{script_id}")
    def show_script(script_id: str) -> dict[str, Any]:
        """Sections, takes, jobs, decisions, cost and compilation of one script."""
        with connect(database_url) as conn:
            return _answer(script_status, conn, script_id)

    @router.get("/review")
    def list_review(script: str | None = None) -> list[dict[str, Any]]:
        """Section takes waiting for a decision (of one script with `?script=`)."""
        with connect(database_url) as conn:
            return _answer(review_queue, conn, script)

    @router.post("/scripts/{script_id}/sections/{section_id}/approve", status_code=201)
    async def approve(script_id: str, section_id: str, request: Request) -> dict[str, Any]:
        """Approve the section's current take."""
        body = _answer(parse_body, await request.body(), _content_type(request), ApproveBody)
        return await _decision(script_id, section_id, "approved", {"note": body.note})

    @router.post("/scripts/{script_id}/sections/{section_id}/reject", status_code=201)
    async def reject(script_id: str, section_id: str, request: Request) -> dict[str, Any]:
        """Reject the section's current take; a new take follows with the given prompt/seed."""
        body = _answer(parse_body, await request.body(), _content_type(request), RejectBody)
        return await _decision(script_id, section_id, "rejected", body.model_dump())

    async def _decision(
        script_id: str, section_id: str, decision: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        result = await _run(
            record_decision, database_url, script_id, section_id, decision, **fields
        )
        log.info(
            "api review %s",
            decision,
            extra={"script_id": script_id, "section_id": section_id, "take": result["take"]},
        )
        return result

    @router.get("/scripts/{script_id}/video", response_model=None)
    def video(script_id: str) -> FileResponse | RedirectResponse:
        """The compiled video: the file from a local store, a presigned-URL redirect from S3."""
        with connect(database_url) as conn:
            _answer(script_rows.script_row, conn, script_id)
            # A recompile in progress or failed leaves the last published video downloadable.
            compilation = compilation_rows.latest_compilation(conn, script_id, succeeded=True)
        if compilation is None:
            raise HTTPException(404, f"script {script_id!r}: not compiled yet")
        key = compilation["output_key"]
        store = config.media_store
        if not isinstance(store, LocalMediaStore):
            return RedirectResponse(store.public_url(key), status_code=307)
        try:
            path = store.local_path(key)
        except FileNotFoundError:
            raise HTTPException(
                404, f"script {script_id!r}: compiled video {key!r} is missing"
            ) from None
        suffix = PurePosixPath(key).suffix
        return FileResponse(
            path,
            media_type=VIDEO_TYPES.get(suffix, "application/octet-stream"),
            filename=f"{script_id}{suffix}",
        )

    return router


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "")


def _answer(function: Any, *args: Any) -> Any:
    """Call `function`, turning the domain's refusals into HTTP answers."""
    try:
        return function(*args)
    except ScriptNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ApiError as exc:
        raise HTTPException(exc.status_code, exc.detail) from None


async def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    """`_answer` on a worker thread (database calls block)."""

    def call() -> Any:
        return function(*args, **kwargs)

    return await run_in_threadpool(_answer, call)


def check_access(
    request: Request, api_key: SecretStr | None, *, service: str, accept_basic: bool = False
) -> None:
    """Raise `ApiError` 401 unless the request carries `api_key`; without a key, 403 unless local.

    The key comes as `Authorization: Bearer KEY` or, with `accept_basic` (what browsers can send),
    as the password of HTTP Basic under any user name.
    """
    if api_key is None:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK_HOSTS:
            raise ApiError(403, f"{service} serves only local clients unless VSL_API_KEY is set")
        return
    expected = api_key.get_secret_value().encode()
    if not _carries_key(request.headers.get("authorization", ""), expected, accept_basic):
        raise ApiError(401, "missing or wrong API key")


def _carries_key(authorization: str, expected: bytes, accept_basic: bool) -> bool:
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return hmac.compare_digest(credentials.strip().encode(), expected)
    if scheme == "basic" and accept_basic:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        _user, colon, password = decoded.partition(b":")
        return bool(colon) and hmac.compare_digest(password, expected)
    return False


def _access_check(api_key: SecretStr | None) -> Any:
    def check(request: Request) -> None:
        """A bearer key when one is configured; otherwise loopback clients only."""
        try:
            check_access(request, api_key, service="the API")
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
            raise HTTPException(exc.status_code, exc.detail, headers=headers) from None

    return check
