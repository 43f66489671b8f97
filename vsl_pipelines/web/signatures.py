"""Verification of Replicate's webhook signatures (the Standard Webhooks scheme, `whsec_...`).

The `standardwebhooks` library checks the timestamp (5 minutes either way) and the HMAC; this
module names missing headers and keeps every message free of the secret. `check_headers` makes
every check that needs no body (presence, whole-second timestamp, freshness), so a request that
cannot be genuine is refused before its body is read.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping

import standardwebhooks

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300  # the library's: five minutes either way
MAX_TIMESTAMP_DIGITS = 12  # epoch seconds until the year 33658; longer is not a timestamp


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook; the message is safe to return and log.

    `header` names what is at fault (a `webhook-*` header, or "body") and `reason` says how:
    "missing", "malformed", "too old", "too new" or "mismatch". The messages are this module's,
    never the library's, so they do not change with its releases.
    """

    def __init__(self, header: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.header = header
        self.reason = reason


class WebhookBodyNotUtf8(WebhookVerificationError):
    """The body is not UTF-8 text, so it cannot be verified, nor be a Replicate webhook (400)."""

    def __init__(self) -> None:
        super().__init__("body", "malformed", "body is not UTF-8 text")


def decode_webhook_secret(secret: str) -> bytes:
    """The HMAC key inside `whsec_<base64>` (a bare base64 key is accepted too).

    Stricter than the library, which drops stray characters: a mangled secret would otherwise
    become another key and refuse every webhook with no hint why.
    """
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


class WebhookVerifier:
    """Checks the `webhook-*` headers of one request against its raw body."""

    def __init__(self, secret: str) -> None:
        self._webhook = standardwebhooks.Webhook(decode_webhook_secret(secret))

    def __repr__(self) -> str:
        return "WebhookVerifier()"

    def check_headers(self, headers: Mapping[str, str], now: float | None = None) -> str:
        """The `webhook-id`, once the headers could be a fresh webhook's (no body needed)."""
        values = {name: headers.get(name) or "" for name in HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise WebhookVerificationError(
                missing[0], "missing", f"missing header(s): {', '.join(missing)}"
            )
        # The library would take "1700000000.9" too and sign its floor; the scheme says integers.
        timestamp = values["webhook-timestamp"]
        if (
            not timestamp.isascii()
            or not timestamp.isdigit()
            or len(timestamp) > MAX_TIMESTAMP_DIGITS
        ):
            raise WebhookVerificationError(
                "webhook-timestamp", "malformed", "webhook-timestamp is not epoch seconds"
            )
        skew = int(timestamp) - (time.time() if now is None else now)
        if skew < -TOLERANCE_S:
            raise WebhookVerificationError(
                "webhook-timestamp", "too old", "webhook-timestamp too old"
            )
        if skew > TOLERANCE_S:
            raise WebhookVerificationError(
                "webhook-timestamp", "too new", "webhook-timestamp too new"
            )
        if not any(_well_formed(entry) for entry in values["webhook-signature"].split(" ")):
            raise WebhookVerificationError(
                "webhook-signature",
                "malformed",
                "webhook-signature is malformed (entries are 'v1,<base64>')",
            )
        return values["webhook-id"]

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Return the verified `webhook-id`, or raise `WebhookVerificationError`
        (`WebhookBodyNotUtf8` for a body that is not UTF-8)."""
        webhook_id = self.check_headers(headers)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookBodyNotUtf8() from None
        values = {name: headers.get(name) or "" for name in HEADERS}
        try:
            self._webhook.verify(text, values, json_parse=False)
        except (standardwebhooks.WebhookVerificationError, ValueError):
            # The headers were checked above: what is left is a signature of another body, id,
            # timestamp or key (releases differ in which of the two they raise for it).
            raise WebhookVerificationError(
                "webhook-signature", "mismatch", "webhook-signature matches no signature"
            ) from None
        return webhook_id


def _well_formed(entry: str) -> bool:
    """One `version,base64` entry of `webhook-signature` (an empty signature is well formed)."""
    version, comma, signature = entry.partition(",")
    if not comma or not version or not (version + signature).isascii():
        return False
    try:
        base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
