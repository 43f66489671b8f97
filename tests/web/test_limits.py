"""Limits before work (issue 8, item 1), over real HTTP: bodies refused at their route's limit
while they stream, the webhook's headers checked before its body is read, bounded headers, slow
clients disconnected, `/healthz` answering through all of it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.service import SignWebhook
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.limits import (
    DECISION_BODY_LIMIT,
    DEFAULT_BODY_LIMIT,
    SCRIPT_BODY_LIMIT,
    WEBHOOK_BODY_LIMIT,
    BodyLimits,
)
from vsl_pipelines.web.server import RunningService, start_service_in_thread

WEBHOOK = "/webhooks/replicate"
MIB = 1024 * 1024
CHUNK = b"x" * 65536
# A client streaming this much is refused long before the end: what gets sent is the limit
# plus what the sockets' buffers take in before the server closes (a few MiB on loopback).
STREAMED = 64 * MIB
READ_AT_MOST = 24 * MIB


def fresh_forged_headers(webhook_id: str = "msg_1") -> dict[str, str]:
    """Headers that pass every check made before the body: only the signature is wrong."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + "A" * 44,
        "content-type": "application/json",
    }


class CountingBody:
    """A streamed (chunked) body of `total` bytes that counts what the client got to send."""

    def __init__(self, total: int = STREAMED) -> None:
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.total:
            self.sent += len(CHUNK)
            yield CHUNK


def stream(service: RunningService, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """POST a 64 MiB chunked body; the answer's status and the bytes the client sent."""
    body = CountingBody()
    response = httpx.post(service.url + path, content=iter(body), headers=headers, timeout=30)
    return response.status_code, body.sent


class RawClient:
    """One TCP connection to the service, for what an HTTP client library will not send."""

    def __init__(self, service: RunningService) -> None:
        url = urlsplit(service.url)
        self.host = url.netloc
        self.sock = socket.create_connection((url.hostname, url.port), timeout=10)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def response(self, timeout_s: float = 10.0) -> tuple[int, bytes]:
        """The status and everything the server sent until it closed the connection."""
        self.sock.settimeout(timeout_s)
        data = b""
        while chunk := self._recv():
            data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        return status, data

    def closed_within(self, timeout_s: float) -> bool:
        """True once the server closes the connection (reading and dropping what it sent)."""
        self.sock.settimeout(timeout_s)
        try:
            while self._recv():
                pass
        except TimeoutError:
            return False
        return True

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(webhook_service: RunningService) -> Iterator[RawClient]:
    client = RawClient(webhook_service)
    yield client
    client.close()


# --- Content-Length over the limit: 413 before a byte of the body is read ---------------------


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("POST", WEBHOOK, WEBHOOK_BODY_LIMIT),
        ("POST", "/api/scripts", SCRIPT_BODY_LIMIT),
        ("POST", "/api/scripts/s1/sections/hook/approve", DECISION_BODY_LIMIT),
        ("POST", "/api/scripts/s1/sections/hook/reject", DECISION_BODY_LIMIT),
        ("POST", "/review/s1/hook/reject", DECISION_BODY_LIMIT),
        ("GET", "/healthz", DEFAULT_BODY_LIMIT),
        ("GET", "/api/scripts", SCRIPT_BODY_LIMIT),
        ("POST", "/nowhere", DEFAULT_BODY_LIMIT),
    ],
)
def test_a_declared_length_past_the_limit_is_413_before_the_body(
    method: str, path: str, limit: int, api_service: RunningService
) -> None:
    # Before: every route waited for the whole declared body (here: never sent) and read it.
    client = RawClient(api_service)
    try:
        client.head(method, path, {"content-length": str(limit + 1)} | fresh_forged_headers())
        status, data = client.response(timeout_s=5)
    finally:
        client.close()
    assert status == 413
    assert f"larger than {limit} bytes".encode() in data
    assert b"connection: close" in data.lower()


def test_a_declared_length_at_the_limit_is_read(api_service: RunningService) -> None:
    body = b" " * (DECISION_BODY_LIMIT - 2) + b"{}"
    response = httpx.post(
        api_service.url + "/api/scripts/nope/sections/hook/approve",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 404  # read, parsed, and the script looked up


# --- Chunked bodies: refused at the limit while they stream -----------------------------------


@pytest.mark.parametrize(
    "path",
    [WEBHOOK, "/api/scripts", "/api/scripts/s1/sections/hook/approve"],
)
def test_a_streamed_body_is_refused_at_the_limit_not_read_to_its_end(
    path: str, api_service: RunningService
) -> None:
    # Before: the webhook read all 64 MiB then answered 401, /api/scripts read it all then 413.
    status, sent = stream(api_service, path, fresh_forged_headers())
    assert status == 413
    assert sent < READ_AT_MOST


def test_an_answer_before_the_body_closes_the_connection(
    webhook_service: RunningService,
) -> None:
    # GET /healthz never reads its body: before, uvicorn read and dropped all 64 MiB of it.
    body = CountingBody()
    response = httpx.request(
        "GET", webhook_service.url + "/healthz", content=iter(body), timeout=30
    )
    assert response.status_code == 200
    assert response.headers["connection"] == "close"
    assert body.sent < READ_AT_MOST


def test_a_webhook_within_the_limit_is_stored(
    webhook_service: RunningService, sign_webhook: SignWebhook, inbox: PostgresInbox
) -> None:
    logs = "step 1/100\n" * ((WEBHOOK_BODY_LIMIT - 4096) // 12)
    body = '{"id": "p1", "status": "succeeded", "logs": "' + logs.replace("\n", "\\n") + '"}'
    raw = body.encode()
    assert WEBHOOK_BODY_LIMIT - 8192 < len(raw) <= WEBHOOK_BODY_LIMIT
    response = httpx.post(
        webhook_service.url + WEBHOOK, content=raw, headers=sign_webhook(raw, "m"), timeout=10
    )
    assert response.json() == {"stored": True}
    [event] = inbox.read_after(0, 1)
    assert event.prediction().logs == logs


# --- The webhook's headers are checked before its body ----------------------------------------


# Header sets are made when the test runs: a timestamp taken at collection time goes stale
# in a long test session (the service allows 5 minutes).
@pytest.mark.parametrize(
    ("make_headers", "status"),
    [
        (lambda: {"content-type": "application/json"}, 401),
        (
            lambda: fresh_forged_headers() | {"webhook-timestamp": str(int(time.time()) - 3600)},
            401,
        ),
        (lambda: fresh_forged_headers() | {"webhook-timestamp": "1" * 5000}, 401),
        (lambda: fresh_forged_headers("m" * 300), 400),
    ],
    ids=["unsigned", "stale", "absurd-timestamp", "long-id"],
)
def test_a_webhook_that_cannot_be_genuine_is_refused_before_its_body(
    make_headers: Callable[[], dict[str, str]], status: int, raw: RawClient, inbox: PostgresInbox
) -> None:
    # Before: the server waited for the whole body first (here it never comes).
    raw.head("POST", WEBHOOK, make_headers() | {"transfer-encoding": "chunked"})
    raw.send(b"10000\r\n" + CHUNK[:0x10000] + b"\r\n")  # one chunk of a body that goes on
    answer, data = raw.response(timeout_s=5)
    assert answer == status
    assert b"connection: close" in data.lower()
    assert inbox.read_after(0, 10) == []


def test_an_unsigned_stream_is_401_after_a_few_bytes(webhook_service: RunningService) -> None:
    status, sent = stream(webhook_service, WEBHOOK, {"content-type": "application/json"})
    assert status == 401
    assert sent < READ_AT_MOST


def test_a_wrong_signature_with_fresh_headers_reads_at_most_the_limit(
    webhook_service: RunningService,
) -> None:
    small = b'{"id": "p1", "status": "succeeded"}'
    forged = httpx.post(
        webhook_service.url + WEBHOOK, content=small, headers=fresh_forged_headers(), timeout=10
    )
    assert forged.status_code == 401
    status, sent = stream(webhook_service, WEBHOOK, fresh_forged_headers())
    assert status == 413
    assert sent < READ_AT_MOST


# --- Headers bounded, slow clients timed out ---------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"x-big": "a" * 64 * 1024}, {f"x-h{i}": "1" for i in range(5000)}],
    ids=["one-64KiB-header", "5000-headers"],
)
def test_oversized_headers_are_refused(headers: dict[str, str], raw: RawClient) -> None:
    # Before (plain httptools): any size or count was parsed and held, and answered; refused
    # while it is parsed now, whether it arrives in one read or many.
    raw.head("GET", "/healthz", headers)
    status, data = raw.response(timeout_s=5)
    assert status == 431
    assert b"connection: close" in data.lower()


def test_headers_within_the_bounds_are_served(raw: RawClient) -> None:
    raw.head("GET", "/healthz", {f"x-h{i}": "v" * 100 for i in range(90)} | {"connection": "close"})
    status, _ = raw.response(timeout_s=5)
    assert status == 200


@pytest.fixture
def impatient_service(inbox: PostgresInbox, webhook_secret: str) -> Iterator[RunningService]:
    """The service with a 1 s deadline for headers and for bodies."""
    app = create_app(inbox, webhook_secret, None, limits=BodyLimits(timeout_s=1.0))
    service = start_service_in_thread(app, header_timeout_s=1.0)
    yield service
    service.stop()


def test_a_slow_header_client_is_disconnected(impatient_service: RunningService) -> None:
    # Before: a client sending a header byte every 0.2 s kept its connection for ever.
    client = RawClient(impatient_service)
    started = time.monotonic()
    try:
        client.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        closed = False
        for _ in range(50):
            try:
                client.send(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if client.closed_within(0.2):
                closed = True
                break
    finally:
        client.close()
    assert closed
    assert time.monotonic() - started < 5


def test_an_idle_connection_is_closed(impatient_service: RunningService) -> None:
    client = RawClient(impatient_service)
    try:
        assert client.closed_within(5)
    finally:
        client.close()


def test_a_keep_alive_connection_gets_a_header_deadline_per_request(
    impatient_service: RunningService,
) -> None:
    client = RawClient(impatient_service)
    try:
        client.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.3)
        client.send(b"GET /healthz HTTP/1.1\r\n")  # the second request's head never ends
        started = time.monotonic()
        assert client.closed_within(5)
        assert time.monotonic() - started < 4
    finally:
        client.close()


def test_a_slow_body_is_408(impatient_service: RunningService) -> None:
    # Before: a body trickling in held its request open for as long as the client liked.
    client = RawClient(impatient_service)
    try:
        client.head("POST", WEBHOOK, fresh_forged_headers() | {"transfer-encoding": "chunked"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                client.send(b"1\r\n \r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.2)
        status, _ = client.response(timeout_s=5)
    finally:
        client.close()
    assert status == 408


def test_healthz_answers_while_slow_clients_trickle(
    webhook_service: RunningService,
) -> None:
    stop = threading.Event()

    def trickle(head: bytes, drip: bytes) -> None:
        client = RawClient(webhook_service)
        try:
            client.send(head)
            while not stop.is_set():
                client.send(drip)
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            client.close()

    forged = "".join(f"{k}: {v}\r\n" for k, v in fresh_forged_headers().items())
    endless_head = (b"GET /healthz HTTP/1.1\r\nhost: x\r\n", b"x")
    endless_body = (
        f"POST {WEBHOOK} HTTP/1.1\r\nhost: x\r\n{forged}transfer-encoding: chunked\r\n\r\n",
        b"1\r\n \r\n",
    )
    slow = [
        threading.Thread(
            target=trickle,
            args=(head.encode() if isinstance(head, str) else head, drip),
            daemon=True,
        )
        for head, drip in [endless_head, endless_body] * 4
    ]
    for thread in slow:
        thread.start()
    try:
        time.sleep(0.3)
        with httpx.Client(base_url=webhook_service.url, timeout=5) as client:
            for _ in range(10):
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                assert time.monotonic() - started < 1
                time.sleep(0.1)
    finally:
        stop.set()
        for thread in slow:
            thread.join(5)


@pytest.mark.parametrize(
    "path", ["/studio/scripts/estimate", "/review/spring-launch/hook/approve", "/api/scripts"]
)
def test_a_client_leaving_mid_body_is_not_an_error(api_service: RunningService, path: str) -> None:
    # Before: a studio form post the browser aborted (htmx replacing an estimate request)
    # surfaced as an ASGI exception; now a quiet refusal (the asgi_errors fixture fails the
    # test on any exception in the server), and the service goes on answering.
    kind = "application/json" if path.startswith("/api") else "application/x-www-form-urlencoded"
    client = RawClient(api_service)
    try:
        client.head("POST", path, {"content-type": kind, "content-length": "1000"})
        client.send(b"x" * 10)
    finally:
        client.close()
    time.sleep(0.3)  # the server notices the closed connection while it waits for the rest
    assert httpx.get(f"{api_service.url}/healthz", timeout=5).status_code == 200
