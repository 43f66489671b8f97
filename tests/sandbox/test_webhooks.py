"""Webhooks from the sandbox, verified with the `standardwebhooks` package (not the sandbox's signer)."""

from __future__ import annotations

import time

import pytest
import replicate
from standardwebhooks import Webhook, WebhookVerificationError

from tests.fixtures.sandbox import SANDBOX_TOKEN, ReceivedWebhook, WebhookSink
from vsl_pipelines.sandbox import RunningSandbox

MUSICGEN = "meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb"


def verify(secret: str, hook: ReceivedWebhook) -> dict:
    return Webhook(secret).verify(hook.body, hook.headers)


def create(
    client: replicate.Client, sink: WebhookSink, **params
) -> replicate.prediction.Prediction:
    return client.models.predictions.create(
        model="black-forest-labs/flux-schnell",
        input={"prompt": "webhook test", "aspect_ratio": "1:1", "megapixels": "0.25"},
        webhook=sink.url,
        **params,
    )


def test_every_event_arrives_signed_with_the_published_secret(
    replicate_client: replicate.Client, webhook_sink: WebhookSink, sandbox: RunningSandbox
) -> None:
    secret = replicate_client.webhooks.default.secret().key
    assert secret == sandbox.secret and secret.startswith("whsec_")
    prediction = create(replicate_client, webhook_sink)
    hooks = webhook_sink.wait_for_status("succeeded")
    payloads = [verify(secret, hook) for hook in hooks]
    assert [p["status"] for p in payloads] == ["processing"] * 3 + ["succeeded"]
    assert all(p["id"] == prediction.id for p in payloads)
    assert payloads[-1]["output"] and payloads[-1]["completed_at"]
    assert len({hook.headers["webhook-id"] for hook in hooks}) == 4
    assert abs(int(hooks[-1].headers["webhook-timestamp"]) - time.time()) < 30
    with pytest.raises(WebhookVerificationError):
        tampered = ReceivedWebhook(
            hooks[-1].headers, hooks[-1].body.replace(b"succeeded", b"failed")
        )
        verify(secret, tampered)


def test_the_events_filter_limits_what_is_sent(
    replicate_client: replicate.Client, webhook_sink: WebhookSink
) -> None:
    create(replicate_client, webhook_sink, webhook_events_filter=["completed"])
    webhook_sink.wait_for_status("succeeded")
    time.sleep(0.3)
    assert [hook.payload["status"] for hook in webhook_sink.received] == ["succeeded"]


def test_the_final_webhook_is_retried_with_the_same_id_until_accepted(
    replicate_client: replicate.Client, webhook_sink: WebhookSink, sandbox: RunningSandbox
) -> None:
    webhook_sink.respond_with(500, 503, 404)
    create(replicate_client, webhook_sink, webhook_events_filter=["completed"])
    hooks = webhook_sink.wait_for_status("succeeded", count=4)
    assert len({hook.headers["webhook-id"] for hook in hooks}) == 1
    for hook in hooks:
        verify(sandbox.secret, hook)
    time.sleep(0.5)
    assert len(webhook_sink.received) == 4


def test_only_the_final_webhook_is_retried_and_retries_stop_after_the_attempts(
    replicate_client: replicate.Client, webhook_sink: WebhookSink, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.webhook_attempts = 3
    webhook_sink.respond_with(*[500] * 10)
    create(replicate_client, webhook_sink, webhook_events_filter=["start", "completed"])
    webhook_sink.wait_for_status("succeeded", count=3)
    time.sleep(0.6)
    statuses = [hook.payload["status"] for hook in webhook_sink.received]
    assert statuses == ["processing", "succeeded", "succeeded", "succeeded"]


def test_duplicate_and_out_of_order_knobs(
    replicate_client: replicate.Client, webhook_sink: WebhookSink, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.duplicate_webhooks = 2
    sandbox.knobs.out_of_order = True
    create(replicate_client, webhook_sink, webhook_events_filter=["completed"])
    hooks = webhook_sink.wait_for(lambda hooks: len(hooks) >= 4)
    payloads = [verify(sandbox.secret, hook) for hook in hooks]
    assert [p["status"] for p in payloads] == ["succeeded"] * 3 + ["processing"]
    final_ids = {hook.headers["webhook-id"] for hook in hooks[:3]}
    assert len(final_ids) == 1
    assert hooks[3].headers["webhook-id"] not in final_ids
    assert payloads[3]["id"] == payloads[0]["id"]


def test_failed_and_canceled_predictions_send_a_completed_webhook(
    replicate_client: replicate.Client, webhook_sink: WebhookSink, sandbox: RunningSandbox
) -> None:
    sandbox.knobs.fail_next = 1
    create(replicate_client, webhook_sink, webhook_events_filter=["completed"])
    (failed,) = webhook_sink.wait_for_status("failed")
    assert verify(sandbox.secret, failed)["error"]

    sandbox.knobs.latency_s = 5
    prediction = create(replicate_client, webhook_sink, webhook_events_filter=["completed"])
    replicate_client.predictions.cancel(prediction.id)
    hooks = webhook_sink.wait_for_status("canceled")
    assert verify(sandbox.secret, hooks[-1])["id"] == prediction.id


def test_the_secret_survives_a_restart_and_can_be_configured(sandbox_factory, tmp_path) -> None:
    first = sandbox_factory(data_dir=tmp_path)
    secret = first.secret
    first.stop()
    assert sandbox_factory(data_dir=tmp_path).secret == secret
    configured = "whsec_" + "QUJD" * 8
    assert sandbox_factory(webhook_secret=configured).secret == configured


def test_webhook_targets_spread_deliveries_like_a_load_balancer(
    sandbox_factory, webhook_sink: WebhookSink, second_webhook_sink: WebhookSink
) -> None:
    """With two targets, deliveries alternate between them, and
    a final webhook refused by one replica is retried on the other."""
    from urllib.parse import urlsplit

    first, second = (urlsplit(s.url) for s in (webhook_sink, second_webhook_sink))
    running = sandbox_factory(
        webhook_targets=(f"http://{first.netloc}", f"http://{second.netloc}"),
        webhook_base_delay_s=0.05,
    )
    client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=running.base_url)
    webhook_sink.respond_with(503)
    # The webhook URL names a host nothing listens on: only the targets receive.
    client.models.predictions.create(
        model="black-forest-labs/flux-schnell",
        input={"prompt": "spread", "aspect_ratio": "1:1", "megapixels": "0.25"},
        webhook="http://127.0.0.1:9/hook?replica=any",
        webhook_events_filter=["completed"],
    )
    second_webhook_sink.wait_for_status("succeeded")
    assert len(webhook_sink.received) == 1  # refused with 503, then retried on the other
    assert len(second_webhook_sink.received) == 1
    ids = {s.received[0].headers["webhook-id"] for s in (webhook_sink, second_webhook_sink)}
    assert len(ids) == 1
