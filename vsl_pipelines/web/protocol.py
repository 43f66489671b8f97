"""The HTTP protocol the service runs: uvicorn's httptools protocol (the C parser; h11 cost the
webhook path a fifth of its CPU) with the two bounds uvicorn has no setting for.

- The request line and headers must arrive within `header_timeout_s`, counted from the
  connection or from the end of the previous response; a client still sending them then is
  disconnected (uvicorn's keep-alive timer stops at the first byte of a request).
- They may take at most `MAX_HEADER_BYTES` and `MAX_HEADERS` fields: counted in the parser's
  callbacks as they come, so a head that never ends is refused at the limit (431, connection
  closed) instead of being held whole (httptools itself bounds neither).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vsl_pipelines.web.limits import (
    BACKLOG,
    HEADER_TIMEOUT_S,
    KEEP_ALIVE_S,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
)

_REFUSAL = b'{"detail": "more than %d header fields or %d bytes of them"}' % (
    MAX_HEADERS,
    MAX_HEADER_BYTES,
)
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL)
)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head past its bounds."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s: ClassVar[float] = HEADER_TIMEOUT_S

    _header_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _head_fields = 0
    _refused = False

    @classmethod
    def with_header_timeout(cls, seconds: float) -> type[GuardedHttpToolsProtocol]:
        return type(cls.__name__, (cls,), {"header_timeout_s": seconds})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        """uvicorn's, but a head refused in a callback is answered 431 (uvicorn would call
        the callback's error a malformed request, 400)."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            # No WebSocket route here: answered as uvicorn answers an unsupported upgrade.
            self._unsupported_upgrade_warning()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_fields = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url), fields=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, fields=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _count(self, size: int, *, fields: int) -> None:
        self._head_bytes += size
        self._head_fields += fields
        if self._head_bytes > MAX_HEADER_BYTES or self._head_fields > MAX_HEADERS:
            raise _HeadTooLarge

    def _refuse_head(self) -> None:
        self._refused = True
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_limits(header_timeout_s: float = HEADER_TIMEOUT_S) -> dict[str, Any]:
    """The `uvicorn.Config` keywords of the service: this protocol on uvloop, idle connections
    closed after `KEEP_ALIVE_S`, at most `MAX_CONNECTIONS` at once (503 past them)."""
    return {
        "http": GuardedHttpToolsProtocol.with_header_timeout(header_timeout_s),
        "loop": "uvloop",
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": MAX_CONNECTIONS,
        "backlog": BACKLOG,
    }
