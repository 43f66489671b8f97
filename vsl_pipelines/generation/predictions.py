"""Creating and reading Replicate predictions through the real `replicate` client.

Creation is retried on 429/5xx with backoff; after an ambiguous failure (5xx, lost connection)
the recent predictions are searched for ours first, so one take never gets two predictions.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import httpx
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from vsl_pipelines.cache import NullRateLimiter, RateLimiter
from vsl_pipelines.domain.registry import ModelSpec
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)


def _as_json(prediction: Prediction) -> dict[str, Any]:
    """The prediction as the API sent it (the client's model is pydantic v1)."""
    return dict(prediction.dict())


def _nothing_claimed(_: str) -> bool:
    return False


class PredictionCreateError(RuntimeError):
    """Replicate refused or kept failing a create call; the message holds no secret."""


def _is_retryable(exc: BaseException) -> tuple[bool, bool]:
    """(retry?, ambiguous?): a 429 is safe to retry; a 5xx or lost connection may have created it."""
    if isinstance(exc, ReplicateError):
        status = exc.status or 0
        if status == 429:
            return True, False
        if status >= 500:
            return True, True
        return False, False
    if isinstance(exc, httpx.TransportError):
        return True, True
    return False, False


class PredictionClient:
    def __init__(
        self,
        base_url: str,
        api_token: str | None,
        webhook_url: str | None,
        *,
        max_attempts: int = 6,
        base_delay_s: float = 0.5,
        max_delay_s: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        # The sandbox accepts any token; the client needs one to build its header.
        self._client = replicate.Client(
            api_token=api_token or "sandbox", base_url=base_url, timeout=httpx.Timeout(30.0)
        )
        self.webhook_url = webhook_url
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        # Replicate's limits are per account: shared across processes through Redis when set.
        self._rate_limiter = rate_limiter or NullRateLimiter()

    def _create_once(self, spec: ModelSpec, model_input: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.webhook_url:
            params = {"webhook": self.webhook_url, "webhook_events_filter": ["completed"]}
        if spec.version_id:
            prediction = self._client.predictions.create(
                version=spec.version_id, input=model_input, **params
            )
        else:
            prediction = self._client.models.predictions.create(
                model=spec.owner_and_name, input=model_input, **params
            )
        return _as_json(prediction)

    def create(
        self,
        spec: ModelSpec,
        model_input: dict[str, Any],
        *,
        reserved_at: datetime,
        claimed: Callable[[str], bool] = _nothing_claimed,
    ) -> dict[str, Any]:
        """Create one prediction, reusing one that an earlier ambiguous attempt already made
        (never one `claimed` by another job: the same input may be asked twice in a row)."""
        backoff = wait_exponential(multiplier=self.base_delay_s, max=self.max_delay_s)

        def jittered(state: RetryCallState) -> float:  # between half and all of the backoff
            return backoff(state) * (0.5 + random.random() / 2)

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning(
                "prediction create failed; retrying",
                extra={
                    "model_id": spec.id,
                    "fields": {
                        "attempt": state.attempt_number,
                        "delay_s": round(state.upcoming_sleep, 2),
                        "status": getattr(exc, "status", None),
                    },
                },
            )

        def give_up(state: RetryCallState) -> NoReturn:
            exc = state.outcome.exception() if state.outcome is not None else None
            raise PredictionCreateError(
                f"creating a prediction for model {spec.id!r} failed {state.attempt_number} times; "
                f"last error: {type(exc).__name__} {getattr(exc, 'status', '')}".rstrip()
            ) from None

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=jittered,
            sleep=self._sleep,
            retry=retry_if_exception(lambda exc: _is_retryable(exc)[0]),
            before_sleep=log_retry,
            retry_error_callback=give_up,
        )
        ambiguous = False
        for attempt in retrying:
            # Outside the attempt: an error of the search or the limiter is not a create's.
            if ambiguous:
                existing = self.find_existing(spec, model_input, since=reserved_at, claimed=claimed)
                if existing is not None:
                    log.info(
                        "found the prediction an earlier attempt created",
                        extra={"model_id": spec.id, "prediction_id": existing["id"]},
                    )
                    return existing
            self._rate_limiter.acquire("create", timeout_s=120)
            with attempt:
                try:
                    return self._create_once(spec, model_input)
                except Exception as exc:  # retried (see `retrying`) or refused here
                    retry, maybe_created = _is_retryable(exc)
                    if not retry:
                        detail = getattr(exc, "detail", None) or str(exc)
                        raise PredictionCreateError(
                            f"Replicate refused a prediction for model {spec.id!r}: {detail}"
                        ) from None
                    ambiguous = ambiguous or maybe_created
                    raise
        raise AssertionError("unreachable")

    def find_existing(
        self,
        spec: ModelSpec,
        model_input: dict[str, Any],
        *,
        since: datetime,
        claimed: Callable[[str], bool] = _nothing_claimed,
    ) -> dict[str, Any] | None:
        """A prediction for this model and exactly this input, created at or after `since`,
        that no other job has `claimed`."""
        after = (since - timedelta(seconds=5)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        path: str | None = f"/v1/predictions?created_after={after}"
        while path:
            self._rate_limiter.acquire("read", timeout_s=60)
            page = self._client._request("GET", path).json()
            for item in page.get("results", []):
                same_model = item.get("model") == spec.owner_and_name or (
                    spec.version_id is not None and item.get("version") == spec.version_id
                )
                if same_model and item.get("input") == model_input and not claimed(item["id"]):
                    return item
            next_url = page.get("next")
            path = next_url[next_url.index("/v1/") :] if next_url else None
        return None

    def get(self, prediction_id: str) -> dict[str, Any]:
        self._rate_limiter.acquire("read", timeout_s=60)
        prediction = self._client.predictions.get(prediction_id)
        return _as_json(prediction)

    def cancel(self, prediction_id: str) -> None:
        self._rate_limiter.acquire("read", timeout_s=60)
        self._client.predictions.cancel(prediction_id)
