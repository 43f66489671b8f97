"""Verification of Replicate's webhook signatures (the Standard Webhooks scheme, `whsec_...`).

The `standardwebhooks` library checks the timestamp (5 minutes either way) and the HMAC; this
module names missing headers and keeps every message free of the secret.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

import standardwebhooks

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook; the message is safe to return and log."""


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

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Return the verified `webhook-id`, or raise `WebhookVerificationError`."""
        values = {name: headers.get(name) or "" for name in HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
        # The library would take "1700000000.9" too and sign its floor; the scheme says integers.
        if not values["webhook-timestamp"].isascii() or not values["webhook-timestamp"].isdigit():
            raise WebhookVerificationError("webhook-timestamp is not epoch seconds")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookVerificationError("body is not UTF-8 text") from None
        try:
            self._webhook.verify(text, values, json_parse=False)
        except standardwebhooks.WebhookVerificationError as exc:
            raise WebhookVerificationError(str(exc)) from None  # fixed texts, never the secret
        except ValueError:  # an entry that is not `version,base64`
            raise WebhookVerificationError("webhook-signature is malformed") from None
        return values["webhook-id"]
