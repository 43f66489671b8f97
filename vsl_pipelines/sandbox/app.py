"""HTTP routes of the sandbox: the part of Replicate's API the project uses, plus `/sandbox/knobs`.

Handlers stay thin; `SandboxEngine` does the work. Like Replicate, every `/v1` route answers
only the API token the sandbox was started with (`Authorization: Bearer` or `Token`); output
files, the stand-in web page and `/sandbox/*` need none.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, Literal

from fastapi import Body, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from vsl_pipelines.sandbox.config import describe_validation_error
from vsl_pipelines.sandbox.engine import Rejection, SandboxEngine
from vsl_pipelines.sandbox.store import PredictionRecord, parse_time

Event = Literal["start", "output", "logs", "completed"]


class PredictionRequest(BaseModel):
    """Body of `POST /v1/models/{owner}/{name}/predictions` (the client may add `stream`)."""

    model_config = ConfigDict(extra="ignore")

    input: dict[str, Any]
    webhook: str | None = None
    webhook_events_filter: list[Event] | None = None
    stream: bool | None = None


class VersionPredictionRequest(PredictionRequest):
    """Body of `POST /v1/predictions`."""

    version: str = Field(min_length=1)


UNAUTHENTICATED = {
    "title": "Unauthenticated",
    "detail": "You did not pass a valid authentication token",
    "status": 401,
}


class RequireApiToken:
    """Refuse `/v1/...` requests without the sandbox's API token, as Replicate does (401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.accepted = {f"bearer {token}".encode(), f"token {token}".encode()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() + b" " + value.strip() not in self.accepted:
                response = JSONResponse(UNAUTHENTICATED, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CollapseDoubledPrefix:
    """Serve `/v1/v1/...` as `/v1/...`.

    The replicate client joins its own `/v1/...` paths onto `base_url`, so a base URL that
    already ends in `/v1` (the project's convention) would otherwise miss every route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/v1/"):
            scope = {**scope, "path": scope["path"][3:], "raw_path": scope["raw_path"][3:]}
        await self.app(scope, receive, send)


def _wait_seconds(prefer: str | None, cap: float) -> float:
    """Seconds asked for by `Prefer: wait` or `Prefer: wait=N` (0 when absent)."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return min(cap, float(value)) if value else cap
            except ValueError:
                return 0.0
    return 0.0


def create_app(engine: SandboxEngine) -> FastAPI:
    app = FastAPI(title="VSL sandbox (Replicate-compatible)", docs_url=None, redoc_url=None)

    @app.exception_handler(Rejection)
    async def _rejected(_: Request, exc: Rejection) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        body = {"title": "Invalid request", "detail": problems, "status": 422}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {"title": "Error", "detail": str(exc.detail), "status": exc.status_code}
        return JSONResponse(body, status_code=exc.status_code)

    async def _created(record: PredictionRecord, prefer: str | None) -> JSONResponse:
        """The new prediction as created, or as it ends within the `Prefer: wait` window."""
        deadline = time.monotonic() + _wait_seconds(prefer, engine.config.max_wait_s)
        while not record.terminal and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            record = engine.get(record.id)
        return JSONResponse(engine.public(record), status_code=201)

    @app.post("/v1/predictions", status_code=201)
    async def create_prediction(
        body: VersionPredictionRequest, prefer: str | None = Header(default=None)
    ) -> JSONResponse:
        record = await asyncio.to_thread(
            engine.create, body.version, body.input, body.webhook, body.webhook_events_filter
        )
        return await _created(record, prefer)

    @app.post("/v1/models/{owner}/{name}/predictions", status_code=201)
    async def create_model_prediction(
        owner: str, name: str, body: PredictionRequest, prefer: str | None = Header(default=None)
    ) -> JSONResponse:
        record = await asyncio.to_thread(
            engine.create, f"{owner}/{name}", body.input, body.webhook, body.webhook_events_filter
        )
        return await _created(record, prefer)

    @app.get("/v1/predictions")
    def list_predictions(
        created_after: str | None = None,
        created_before: str | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        def moment(name: str, value: str | None) -> datetime | None:
            try:
                return parse_time(value) if value else None
            except ValueError:
                raise Rejection(400, f"{name}: not an ISO 8601 date-time: {value!r}") from None

        filters = {"created_after": created_after, "created_before": created_before}
        page, next_cursor, previous_cursor = engine.page(
            moment("created_after", created_after), moment("created_before", created_before), cursor
        )
        filters = {name: value for name, value in filters.items() if value}

        def link(cursor_value: str | None) -> str | None:
            if cursor_value is None:
                return None
            query = "&".join(f"{k}={v}" for k, v in {"cursor": cursor_value, **filters}.items())
            return f"{engine.api_url}/predictions?{query}"

        return {
            "next": link(next_cursor),
            "previous": link(previous_cursor),
            "results": [engine.public(record) for record in page],
        }

    @app.get("/v1/predictions/{prediction_id}")
    def get_prediction(prediction_id: str) -> dict[str, Any]:
        return engine.public(engine.get(prediction_id))

    @app.get("/p/{prediction_id}")
    def web_page(prediction_id: str) -> dict[str, Any]:
        """Stands in for Replicate's web page (`urls.web`): the prediction as JSON."""
        return engine.public(engine.get(prediction_id))

    @app.post("/v1/predictions/{prediction_id}/cancel")
    def cancel_prediction(prediction_id: str) -> dict[str, Any]:
        return engine.public(engine.cancel(prediction_id))

    @app.get("/v1/webhooks/default/secret")
    def webhook_secret() -> dict[str, str]:
        return {"key": engine.secret}

    @app.get("/files/{prediction_id}/{name}")
    def output_file(prediction_id: str, name: str) -> StreamingResponse:
        # Served from the file opened here: expiry may delete it at any moment, and an open file
        # outlives its deletion, where a path opened later by the response would not.
        handle = engine.open_output(prediction_id, name)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        size = os.fstat(handle.fileno()).st_size
        return StreamingResponse(
            _chunks(handle), media_type=media_type, headers={"Content-Length": str(size)}
        )

    @app.get("/sandbox/knobs")
    def get_knobs() -> dict[str, Any]:
        return engine.knobs.model_dump()

    @app.post("/sandbox/knobs")
    def set_knobs(patch: dict[str, Any] = Body(...)) -> JSONResponse:  # noqa: B008
        try:
            engine.knobs.apply(patch)
        except ValidationError as exc:
            detail = describe_validation_error(exc)
            return JSONResponse(
                {"title": "Invalid knobs", "detail": detail, "status": 422}, status_code=422
            )
        return JSONResponse(engine.knobs.model_dump())

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_asgi_app(engine: SandboxEngine) -> ASGIApp:
    app = RequireApiToken(create_app(engine), engine.config.api_token.get_secret_value())
    return CollapseDoubledPrefix(app)


def _chunks(handle: BinaryIO, size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes in chunks, closing it at the end or when the client goes away."""
    with handle:
        while chunk := handle.read(size):
            yield chunk
