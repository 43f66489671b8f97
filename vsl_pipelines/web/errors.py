"""How the HTTP layer refuses: the services' exceptions as HTTP answers, invalid fields named.

The API answers them as `{"detail": ...}`, the review page as an HTML page with the same text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from vsl_pipelines.db.scripts import ScriptExists, ScriptNotFound
from vsl_pipelines.domain.script import ScriptError
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)


@contextmanager
def http_errors() -> Iterator[None]:
    """Unknown script 404, invalid or over-budget script 422, script id taken 409."""
    try:
        yield
    except ScriptNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ScriptError as exc:
        raise HTTPException(422, str(exc)) from None
    except ScriptExists as exc:
        raise HTTPException(409, str(exc)) from None


def validation_problems(exc: ValidationError | RequestValidationError, whole: str) -> str:
    """`field: message; ...` for each invalid field (`whole` when the error is not a field's)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}" for err in exc.errors()
    )


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422 (a query or path parameter of the wrong type) in the service's shape:
    one `detail` text naming the parameter."""
    return JSONResponse({"detail": validation_problems(exc, "request")}, status_code=422)


async def client_left(request: Request, exc: ClientDisconnect) -> Response:
    """A client that went away before its body ended (a form post the browser aborted for a
    newer one, a slow sender cut off): nothing was read, nothing changes, no one hears the
    answer; logged as a refusal, never as an error of the service."""
    log.info(
        "client left before its body ended", extra={"fields": {"path": request.url.path[:200]}}
    )
    return Response(status_code=400)
