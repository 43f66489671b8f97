"""Verification of Replicate's webhook signatures (the Standard Webhooks scheme).

Signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, HMAC-SHA256 with the
base64-decoded part of `whsec_...`. No error message ever carries the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

DEFAULT_TOLERANCE_S = 300
SIGNATURE_VERSION = "v1"


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook; the message is safe to return and log."""


def decode_webhook_secret(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret (a bare base64 key is accepted too)."""
    encoded = secret.rpartition("_")[2].strip()
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def compute_signature(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` (without the `v1,` prefix)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


class WebhookVerifier:
    """Checks the `webhook-*` headers of one request against the raw body."""

    def __init__(self, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
        self._key = decode_webhook_secret(secret)
        self.tolerance_s = tolerance_s

    def __repr__(self) -> str:
        return f"WebhookVerifier(tolerance_s={self.tolerance_s})"

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
        """Return the verified `webhook-id`, or raise `WebhookVerificationError`."""
        webhook_id = headers.get("webhook-id")
        timestamp = headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature")
        missing = [
            name
            for name, value in (
                ("webhook-id", webhook_id),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", signatures),
            )
            if not value
        ]
        if missing or webhook_id is None or timestamp is None or signatures is None:
            raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")

        try:
            sent_at = int(timestamp)
        except ValueError:
            raise WebhookVerificationError("webhook-timestamp is not epoch seconds") from None
        skew = (time.time() if now is None else now) - sent_at
        if skew > self.tolerance_s:
            raise WebhookVerificationError("webhook-timestamp is too old")
        if skew < -self.tolerance_s:
            raise WebhookVerificationError("webhook-timestamp is in the future")

        expected = compute_signature(self._key, webhook_id, timestamp, body).encode("ascii")
        for candidate in signatures.split():
            version, _, value = candidate.partition(",")
            if version == SIGNATURE_VERSION and hmac.compare_digest(
                expected, value.encode("ascii", "replace")
            ):
                return webhook_id
        raise WebhookVerificationError("no matching signature")
