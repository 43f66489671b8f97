"""Limits enforced before a handler does any work: request bodies per route, how long a client
may take to send its headers and its body.

`web.protocol.GuardedHttpToolsProtocol` refuses a head of more than `MAX_HEADERS` fields or
`MAX_HEADER_BYTES` (431) while it is parsed, and one that takes longer than `HEADER_TIMEOUT_S`;
`BodyLimitMiddleware` (pure ASGI, added in `create_app`) checks the same bounds on the parsed
head (for servers run with another protocol), answers 413 from `Content-Length`
before the handler runs and, for a body sent without it (chunked), stops at the first chunk past
the limit, so no handler ever holds more than its route's limit. A response sent while the body
is still coming asks the server to close the connection (`Connection: close`) instead of
reading the rest.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB

WEBHOOK_BODY_LIMIT = 1 * MIB  # a Replicate prediction (logs and outputs included) is far below
SCRIPT_BODY_LIMIT = 1_000_000  # `POST /api/scripts`, as `api.bodies.MAX_SCRIPT_BYTES`
GENERATE_BODY_LIMIT = 64 * 1024  # a generation request: a model id and its parameters
DECISION_BODY_LIMIT = 16 * KIB  # approve/reject in the API and the review page's forms
EVENT_BODY_LIMIT = 512  # a player's event: a cut, its signature, a viewer id and a kind
DEFAULT_BODY_LIMIT = 4 * KIB  # every other route (none of them takes a body)

BODY_TIMEOUT_S = 30.0  # the whole body, from the handler's first read
HEADER_TIMEOUT_S = 10.0  # request line and headers, from the connection or the last response
MAX_HEADER_BYTES = 16 * KIB  # request line and headers together
MAX_HEADERS = 100  # header fields in one request
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this
MAX_CONNECTIONS = 100  # uvicorn's limit_concurrency: connections or tasks; past it, 503
BACKLOG = 128  # connections the kernel queues before the server accepts them


@dataclass(frozen=True)
class RouteLimit:
    """The body limit of the paths `pattern` matches whole."""

    pattern: re.Pattern[str]
    max_bytes: int
    name: str

    @classmethod
    def of(cls, pattern: str, max_bytes: int, name: str) -> RouteLimit:
        return cls(re.compile(pattern), max_bytes, name)


ROUTE_LIMITS: tuple[RouteLimit, ...] = (
    RouteLimit.of(r"/webhooks/replicate/?", WEBHOOK_BODY_LIMIT, "webhook"),
    RouteLimit.of(r"/api/scripts/?", SCRIPT_BODY_LIMIT, "script"),
    RouteLimit.of(
        r"/api/scripts/[^/]+/sections/[^/]+/(approve|reject)/?", DECISION_BODY_LIMIT, "decision"
    ),
    RouteLimit.of(r"/api/section-videos/[^/]+/(approve|reject)/?", DECISION_BODY_LIMIT, "decision"),
    RouteLimit.of(r"/review/[^/]+/[^/]+/(approve|reject)/?", DECISION_BODY_LIMIT, "form"),
    RouteLimit.of(r"/api/generate-media/?", GENERATE_BODY_LIMIT, "generation"),
    RouteLimit.of(r"/api/events/?", EVENT_BODY_LIMIT, "event"),
    # The studio's editor posts a whole script (a new one, or an edit and its confirmation);
    # its other forms are small.
    RouteLimit.of(
        r"/studio/scripts/(new|estimate|import|[^/]+/edit(/estimate|/confirm)?)/?",
        SCRIPT_BODY_LIMIT,
        "editor",
    ),
    RouteLimit.of(r"/studio/.*", DECISION_BODY_LIMIT, "form"),
)


@dataclass(frozen=True)
class BodyLimits:
    """Per-route body limits (the first matching pattern wins) and the body deadline."""

    routes: Sequence[RouteLimit] = ROUTE_LIMITS
    default_bytes: int = DEFAULT_BODY_LIMIT
    timeout_s: float = BODY_TIMEOUT_S

    def for_path(self, path: str) -> int:
        for route in self.routes:
            if route.pattern.fullmatch(path):
                return route.max_bytes
        return self.default_bytes


class BodyTooLarge(HTTPException):
    """Raised from `receive` at the first chunk past the route's limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyTimeout(HTTPException):
    """Raised from `receive` once the body has taken longer than allowed (answered 408)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"request body not received within {timeout_s:g} s")


class HeadersTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            431, f"more than {MAX_HEADERS} header fields or {MAX_HEADER_BYTES} bytes of them"
        )


CLOSE = (b"connection", b"close")


class BodyLimitMiddleware:
    """Bounds every request body by its route's limit and deadline, while it streams."""

    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _head_too_large(scope):
            await _refuse(send, HeadersTooLarge())
            return
        limit = self.limits.for_path(scope["path"])
        declared, chunked = _declared_body(scope["headers"])
        if declared is not None and declared > limit:
            await _refuse(send, BodyTooLarge(limit))  # before a byte of the body is read
            return
        body = _BodyGuard(receive, send, limit, self.limits.timeout_s)
        body.pending = chunked or bool(declared)
        try:
            await self.app(scope, body.receive, body.send)
        except (BodyTooLarge, BodyTimeout) as exc:
            # Only reached when no exception handler answered it (a plain ASGI route).
            if body.started:
                raise
            await _refuse(body.send, exc)


class _BodyGuard:
    """`receive` counting the body against the limit, `send` asking to close if it is unread."""

    def __init__(self, receive: Receive, send: Send, limit: int, timeout_s: float) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.timeout_s = timeout_s
        self.received = 0
        self.pending = False  # body bytes may still be on the way
        self.started = False
        self._deadline: float | None = None

    async def receive(self) -> Message:
        if not self.pending:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTimeout(self.timeout_s) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise BodyTooLarge(self.limit)
            self.pending = bool(message.get("more_body", False))
        else:  # http.disconnect
            self.pending = False
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if self.pending:  # answered before the body was read: do not read the rest
                headers = list(message.get("headers", []))
                if CLOSE not in headers:
                    message = {**message, "headers": [*headers, CLOSE]}
        await self._send(message)


def _head_too_large(scope: Scope) -> bool:
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS:
        return True
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return size + sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEADER_BYTES


def _declared_body(headers: Sequence[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """`Content-Length` (None when absent) and whether the body is chunked."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _refuse(send: Send, exc: HTTPException) -> None:
    payload = json.dumps({"detail": exc.detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                CLOSE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
