from __future__ import annotations

import time

import pytest

from tests.fixtures.service import new_webhook_secret, signed_headers
from vsl_pipelines.web.signatures import (
    WebhookBodyNotUtf8,
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


def test_a_list_of_only_other_keys_is_refused() -> None:
    secret = new_webhook_secret()
    others = [signed_headers(new_webhook_secret(), BODY, "msg_1") for _ in range(2)]
    headers = others[0] | {"webhook-signature": " ".join(h["webhook-signature"] for h in others)}
    with pytest.raises(WebhookVerificationError) as caught:
        WebhookVerifier(secret).verify(headers, BODY)
    assert (caught.value.header, caught.value.reason) == ("webhook-signature", "mismatch")


@pytest.mark.parametrize(
    ("change", "header", "reason"),
    [
        (lambda h: h.pop("webhook-id"), "webhook-id", "missing"),
        (lambda h: h.pop("webhook-signature"), "webhook-signature", "missing"),
        (lambda h: h.update({"webhook-timestamp": ""}), "webhook-timestamp", "missing"),
        (lambda h: h.update({"webhook-timestamp": "soon"}), "webhook-timestamp", "malformed"),
        (
            lambda h: h.update({"webhook-timestamp": h["webhook-timestamp"] + ".5"}),
            "webhook-timestamp",
            "malformed",
        ),
        (
            lambda h: h.update({"webhook-timestamp": str(int(h["webhook-timestamp"]) - 301)}),
            "webhook-timestamp",
            "too old",
        ),
        (
            lambda h: h.update({"webhook-timestamp": str(int(h["webhook-timestamp"]) + 301)}),
            "webhook-timestamp",
            "too new",
        ),
        (lambda h: h.update({"webhook-id": "msg_2"}), "webhook-signature", "mismatch"),
        (lambda h: h.update({"webhook-signature": "v1,"}), "webhook-signature", "mismatch"),
        (lambda h: h.update({"webhook-signature": "v1,é"}), "webhook-signature", "malformed"),
        (lambda h: h.update({"webhook-signature": "v1"}), "webhook-signature", "malformed"),
        (lambda h: h.update({"webhook-signature": ",abc="}), "webhook-signature", "malformed"),
        (lambda h: h.update({"webhook-signature": "v1,!!!"}), "webhook-signature", "malformed"),
    ],
    ids=[
        "no-id",
        "no-signature",
        "empty-timestamp",
        "word-timestamp",
        "fraction-timestamp",
        "stale-timestamp",
        "future-timestamp",
        "other-id",
        "empty-signature",
        "non-ascii-signature",
        "no-comma",
        "no-version",
        "not-base64",
    ],
)
def test_rejects_altered_headers(change, header: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    """What is refused is named by its header and reason, not by the library's wording."""
    secret = new_webhook_secret()
    headers = signed_headers(secret, BODY, "msg_1")
    change(headers)
    with pytest.raises(WebhookVerificationError) as caught:
        WebhookVerifier(secret).verify(headers, BODY)
    assert (caught.value.header, caught.value.reason) == (header, reason)
    assert header in str(caught.value)
    assert secret.removeprefix("whsec_") not in str(caught.value)


def test_a_malformed_entry_beside_a_valid_one_is_skipped() -> None:
    secret = new_webhook_secret()
    headers = signed_headers(secret, BODY, "msg_1")
    headers["webhook-signature"] = f"v1,é v1 {headers['webhook-signature']}"
    assert WebhookVerifier(secret).verify(headers, BODY) == "msg_1"


def test_rejects_a_tampered_body() -> None:
    secret = new_webhook_secret()
    headers = signed_headers(secret, BODY, "msg_1")
    with pytest.raises(WebhookVerificationError) as caught:
        WebhookVerifier(secret).verify(headers, BODY.replace(b"succeeded", b"failed"))
    assert (caught.value.header, caught.value.reason) == ("webhook-signature", "mismatch")
    with pytest.raises(WebhookBodyNotUtf8) as not_text:
        WebhookVerifier(secret).verify(headers, BODY + b"\xff")
    assert (not_text.value.header, not_text.value.reason) == ("body", "malformed")


def test_timestamp_tolerance_is_five_minutes_both_ways() -> None:
    # The library reads the clock itself, so the edges are tested a few seconds inside and out.
    secret = new_webhook_secret()
    verifier = WebhookVerifier(secret)
    now = time.time()
    for skew in (-295, 0, 295):
        headers = signed_headers(secret, BODY, "msg_1", timestamp=now + skew)
        assert verifier.verify(headers, BODY) == "msg_1"
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(signed_headers(secret, BODY, "m", timestamp=now - 305), BODY)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verifier.verify(signed_headers(secret, BODY, "m", timestamp=now + 305), BODY)


@pytest.mark.parametrize("secret", ["whsec_not*base64!", "whsec_", "whsec_===="])
def test_bad_secret_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(ValueError) as caught:
        WebhookVerifier(secret)
    assert "base64!" not in str(caught.value) and "===" not in str(caught.value)
    assert "not*base64" not in repr(WebhookVerifier(new_webhook_secret()))


def test_unpadded_and_bare_secrets_are_the_same_key() -> None:
    secret = new_webhook_secret()
    bare = secret.removeprefix("whsec_")
    assert decode_webhook_secret(secret) == decode_webhook_secret(bare.rstrip("="))
    headers = signed_headers(secret, BODY, "msg_1")
    assert WebhookVerifier(bare.rstrip("=")).verify(headers, BODY) == "msg_1"


def test_check_headers_needs_no_body() -> None:
    secret = new_webhook_secret()
    verifier = WebhookVerifier(secret)
    now = time.time()
    headers = signed_headers(secret, BODY, "msg_1", timestamp=now)
    assert verifier.check_headers(headers) == "msg_1"
    for skew, message in ((-301, "too old"), (301, "too new")):
        with pytest.raises(WebhookVerificationError, match=message):
            verifier.check_headers(headers, now=now - skew)
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(int(now)))  # isdigit() but not ASCII
    for timestamp in ("1" * 13, "9" * 5000, fullwidth):  # too long, past int()'s digit limit
        with pytest.raises(WebhookVerificationError, match="epoch seconds"):
            verifier.check_headers(headers | {"webhook-timestamp": timestamp})
    with pytest.raises(WebhookVerificationError, match="missing header.*webhook-signature"):
        verifier.check_headers({k: v for k, v in headers.items() if k != "webhook-signature"})


def test_a_body_that_is_not_utf8_is_its_own_refusal() -> None:
    secret = new_webhook_secret()
    body = BODY.decode().encode("utf-16")
    headers = signed_headers(secret, body, "msg_1")  # signed over the raw bytes
    with pytest.raises(WebhookBodyNotUtf8, match="UTF-8"):
        WebhookVerifier(secret).verify(headers, body)
