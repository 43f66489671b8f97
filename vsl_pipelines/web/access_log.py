"""One JSON line per `/api` request, with the original system's fields: `action`
(`api_request`), `method`, `path` (the route's template, so ids do not explode the cardinality),
`status`, `duration` (ms) and the caller's `userId` when its key names one.

A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` would wrap every request (webhooks
included) in an extra task and stream.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vsl_pipelines.logs import get_logger

log = get_logger("vsl_pipelines.web.access")


class ApiAccessLog:
    def __init__(self, app: ASGIApp, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            _log(scope, status, (time.perf_counter() - started) * 1000)


def _route_path(scope: Scope) -> str:
    """The matched route's template under `/api` (the path itself when none matched)."""
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str):
        return str(scope["path"])[:200]
    return template if template.startswith("/api/") else f"/api{template}"


def _log(scope: Scope, status: int, duration_ms: float) -> None:
    key: Any = (scope.get("state") or {}).get("api_key")
    fields = {
        "action": "api_request",
        "method": scope["method"],
        "path": _route_path(scope),
        "status": status,
        "duration": round(duration_ms, 2),
    }
    if key is not None and key.user_id:
        fields["userId"] = key.user_id
    log.info("api request", extra={"fields": fields})
