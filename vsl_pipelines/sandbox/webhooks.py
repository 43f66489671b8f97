"""Signed webhook delivery the way Replicate does it (Standard Webhooks headers and HMAC).

Only the final (completed) webhook is retried, with capped exponential backoff and a stable id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from vsl_pipelines.logs import get_logger
from vsl_pipelines.sandbox.config import SandboxKnobs

log = get_logger("vsl_pipelines.sandbox.webhooks")
SECRET_FILE = "webhook_secret"


def generate_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def load_or_create_secret(configured: str | None, data_dir: Path) -> str:
    """The configured secret, else the one persisted under `data_dir`, else a new persisted one."""
    if configured:
        if not configured.startswith("whsec_"):
            raise ValueError("webhook_secret must start with 'whsec_'")
        return configured
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = generate_secret()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)
    return secret


def new_webhook_id() -> str:
    return "msg_" + secrets.token_hex(12)


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery attempt."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _accepted(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _last_status(state: RetryCallState) -> int | None:
    assert state.outcome is not None
    return state.outcome.result()


class _Stopped(Exception):
    """The sandbox stops during a wait between attempts: no attempt follows."""


class WebhookSender:
    """Posts prediction JSON to webhook URLs; safe to share between threads."""

    def __init__(
        self,
        secret: str,
        knobs: SandboxKnobs,
        stopping: threading.Event,
        *,
        targets: tuple[str, ...] = (),
    ) -> None:
        self._secret = secret
        self._knobs = knobs
        self._stopping = stopping
        self._client = httpx.Client(follow_redirects=False)
        self._targets = itertools.cycle([httpx.URL(t) for t in targets]) if targets else None
        self._targets_lock = threading.Lock()
        self.failed_attempts = 0  # observable by tests that take the receiver down

    def _target(self, url: str) -> httpx.URL:
        """`url`, or with its scheme and host taken from the next of `targets` (round robin,
        as a load balancer in front of several replicas would spread deliveries)."""
        if self._targets is None:
            return httpx.URL(url)
        with self._targets_lock:
            target = next(self._targets)
        return httpx.URL(url).copy_with(scheme=target.scheme, host=target.host, port=target.port)

    def close(self) -> None:
        self._client.close()

    def _post_once(self, url: str, webhook_id: str, body: bytes) -> int | None:
        """The response status, or None when the receiver could not be reached."""
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "vsl-sandbox-webhook/1.0",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._secret, webhook_id, timestamp, body),
        }
        try:
            response = self._client.post(
                self._target(url),
                content=body,
                headers=headers,
                timeout=self._knobs.webhook_timeout_s,
            )
        except httpx.HTTPError:
            return None
        return response.status_code

    def deliver(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        final: bool,
        webhook_id: str | None = None,
        event: str = "completed",
    ) -> bool:
        """Send one message; a final one is retried on connection errors and 4xx/5xx."""
        webhook_id = webhook_id or new_webhook_id()
        body = encode_body(payload)
        attempts = self._knobs.webhook_attempts if final else 1
        context = {
            "prediction_id": payload.get("id"),
            "webhook_id": webhook_id,
            "fields": {"event": event, "status": payload.get("status")},
        }

        def failed(state: RetryCallState) -> None:
            assert state.outcome is not None
            self.failed_attempts += 1
            log.info(
                "webhook attempt %d/%d failed (%s)",
                state.attempt_number, attempts, state.outcome.result() or "connection error",
                extra=context,
            )  # fmt: skip

        retrying = Retrying(
            stop=stop_after_attempt(attempts) | stop_when_event_set(self._stopping),
            wait=wait_exponential(
                multiplier=self._knobs.webhook_base_delay_s, max=self._knobs.webhook_max_delay_s
            ),
            sleep=self._wait_unless_stopping,
            retry=retry_if_result(lambda status: not _accepted(status)),
            after=failed,
            retry_error_callback=_last_status,
        )
        try:
            delivered = _accepted(retrying(self._post_once, url, webhook_id, body))
        except _Stopped:
            delivered = False
        if delivered:
            log.debug("webhook delivered", extra=context)
        else:
            log.warning("webhook given up", extra=context)
        return delivered

    def _wait_unless_stopping(self, delay: float) -> None:
        if self._stopping.wait(delay):
            raise _Stopped
