from __future__ import annotations

import time

import pytest

from tests.fixtures.service import new_webhook_secret, signed_headers
from vsl_pipelines.web.signatures import (
    WebhookVerificationError,
    WebhookVerifier,
    decode_webhook_secret,
)

BODY = b'{"id": "p1", "status": "succeeded"}'


def test_accepts_what_standardwebhooks_signs() -> None:
    secret = new_webhook_secret()
    headers = signed_headers(secret, BODY, "msg_1")
    assert WebhookVerifier(secret).verify(headers, BODY) == "msg_1"


def test_accepts_any_matching_signature_in_the_list() -> None:
    secret, old = new_webhook_secret(), new_webhook_secret()
    headers = signed_headers(secret, BODY, "msg_1")
    other = signed_headers(old, BODY, "msg_1")["webhook-signature"]
    headers["webhook-signature"] = f"v2,abc {other} {headers['webhook-signature']}"
    assert WebhookVerifier(secret).verify(headers, BODY) == "msg_1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("webhook-id"), "missing header"),
        (lambda h: h.pop("webhook-signature"), "missing header"),
        (lambda h: h.update({"webhook-timestamp": "soon"}), "epoch seconds"),
        (lambda h: h.update({"webhook-id": "msg_2"}), "no matching signature"),
        (lambda h: h.update({"webhook-signature": "v1,"}), "no matching signature"),
        (lambda h: h.update({"webhook-signature": "v1,é"}), "no matching signature"),
    ],
)
def test_rejects_altered_headers(change, message: str) -> None:  # type: ignore[no-untyped-def]
    secret = new_webhook_secret()
    headers = signed_headers(secret, BODY, "msg_1")
    change(headers)
    with pytest.raises(WebhookVerificationError, match=message) as caught:
        WebhookVerifier(secret).verify(headers, BODY)
    assert secret.removeprefix("whsec_") not in str(caught.value)


def test_timestamp_tolerance_is_five_minutes_both_ways() -> None:
    secret = new_webhook_secret()
    verifier = WebhookVerifier(secret)
    now = time.time()
    for skew in (-299, 0, 299):
        headers = signed_headers(secret, BODY, "msg_1", timestamp=now + skew)
        assert verifier.verify(headers, BODY, now=now) == "msg_1"
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(signed_headers(secret, BODY, "m", timestamp=now - 301), BODY, now=now)
    with pytest.raises(WebhookVerificationError, match="future"):
        verifier.verify(signed_headers(secret, BODY, "m", timestamp=now + 301), BODY, now=now)


def test_bad_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        decode_webhook_secret("whsec_not*base64!")
    assert "not*base64" not in str(caught.value)
    assert "not*base64" not in repr(WebhookVerifier(new_webhook_secret()))
