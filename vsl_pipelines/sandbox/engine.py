"""The sandbox's prediction lifecycle: accept, render in the background, expire, notify.

HTTP routes call `SandboxEngine`; it owns the store, the worker threads and webhook delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import shutil
import threading
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from vsl_pipelines.domain.registry import ModelSpec, Registry, RegistryError, default_registry
from vsl_pipelines.logs import get_logger
from vsl_pipelines.sandbox import render
from vsl_pipelines.sandbox.config import SandboxConfig
from vsl_pipelines.sandbox.store import (
    EVENTS,
    PredictionRecord,
    PredictionStore,
    decode_cursor,
    encode_cursor,
    new_prediction_id,
    utc_now,
)
from vsl_pipelines.sandbox.webhooks import WebhookSender, load_or_create_secret, new_webhook_id

log = get_logger("vsl_pipelines.sandbox")
MAX_INPUT_IMAGE_BYTES = 50 * 1024 * 1024
REQUIRED_INPUTS = {
    "text-to-image": ("prompt",),
    "text-to-video": ("prompt",),
    "text-to-speech": ("text",),
}


@dataclass
class Rejection(Exception):
    """A request the sandbox answers with an error status instead of creating a prediction."""

    status_code: int
    detail: str
    title: str = "Error"
    headers: dict[str, str] = field(default_factory=dict)
    invalid_fields: list[dict[str, str]] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"title": self.title, "detail": self.detail}
        body["status"] = self.status_code
        if self.invalid_fields is not None:
            body["invalid_fields"] = self.invalid_fields
        return body


def _invalid(field_name: str, description: str) -> Rejection:
    return Rejection(
        422,
        f"input.{field_name}: {description}",
        title="Input validation failed",
        invalid_fields=[{"type": "invalid", "field": field_name, "description": description}],
    )


def validated_input(spec: ModelSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """The model's defaults merged with `raw`; Rejection(422) naming the first bad field."""
    unknown = sorted(set(raw) - set(spec.supported_params))
    if unknown:
        supported = ", ".join(spec.supported_params)
        raise _invalid(
            unknown[0], f"{spec.owner_and_name} does not accept this input; supported: {supported}"
        )
    try:
        merged = spec.build_input(raw)
    except RegistryError as exc:
        name = next((n for n in raw if f"{n!r}" in str(exc)), "input")
        raise _invalid(name, str(exc)) from None
    required = REQUIRED_INPUTS.get(spec.task, ())
    if spec.task == "image-to-video" and spec.image_input:
        required = (spec.image_input,)
    if spec.task == "text-to-speech" and spec.text_input:
        required = (spec.text_input,)
    for name in required:
        if not isinstance(merged.get(name), str) or not merged[name]:
            raise _invalid(name, "is required and must be a non-empty string")
    return merged


def official_version_id(spec: ModelSpec) -> str:
    """A stable 64-hex version id for a model the registry calls by name only.

    Replicate answers "hidden" there, but the published schema's `oneOf` rejects that value.
    """
    return spec.version_id or hashlib.sha256(spec.owner_and_name.encode()).hexdigest()


def fetch_input_file(reference: str) -> bytes:
    """The bytes behind an http(s) URL or a data: URI, as Replicate accepts file inputs."""
    if reference.startswith("data:"):
        header, _, payload = reference.partition(",")
        try:
            if header.endswith(";base64"):
                return base64.b64decode(payload, validate=True)
            return urllib.parse.unquote_to_bytes(payload)
        except binascii.Error:
            raise render.RenderError("input_image: the data URI is not valid base64") from None
    if not reference.startswith(("http://", "https://")):
        raise render.RenderError("input_image must be an http(s) URL or a data: URI")
    try:
        with httpx.stream("GET", reference, timeout=30, follow_redirects=True) as response:
            response.raise_for_status()
            content = bytearray()
            for chunk in response.iter_bytes():
                content.extend(chunk)
                if len(content) > MAX_INPUT_IMAGE_BYTES:
                    raise render.RenderError("input_image is larger than 50 MB")
            return bytes(content)
    except httpx.HTTPStatusError as exc:
        raise render.RenderError(
            f"could not download input_image from {reference}: HTTP {exc.response.status_code}"
        ) from None
    except httpx.HTTPError as exc:
        raise render.RenderError(
            f"could not download input_image from {reference}: {type(exc).__name__}: {exc}"
        ) from None


class SandboxEngine:
    """Creates, runs, cancels, lists and expires predictions."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.knobs = config.knobs()
        self.registry: Registry = config.registry or default_registry()
        self.files_dir = config.data_dir / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.store = PredictionStore(config.data_dir / "predictions")
        self.secret = load_or_create_secret(config.webhook_secret, config.data_dir)
        self.public_url = (config.public_url or f"http://{config.host}:{config.port}").rstrip("/")
        self._stopping = threading.Event()
        self.webhooks = WebhookSender(
            self.secret, self.knobs, self._stopping, targets=config.webhook_targets
        )
        self._workers = ThreadPoolExecutor(config.workers, thread_name_prefix="sandbox-predict")
        self._deliveries = ThreadPoolExecutor(8, thread_name_prefix="sandbox-webhook")
        self._counter_lock = threading.Lock()
        self._rng_seed: int | None = None
        self._rng = random.Random()
        self._cancelled: dict[str, threading.Event] = {}
        self._reaper = threading.Thread(
            target=self._reap_forever, name="sandbox-reaper", daemon=True
        )
        self._reaper.start()

    @property
    def api_url(self) -> str:
        return f"{self.public_url}/v1"

    def shutdown(self) -> None:
        self._stopping.set()
        for event in list(self._cancelled.values()):
            event.set()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._deliveries.shutdown(wait=True, cancel_futures=True)
        self.webhooks.close()
        self._reaper.join(timeout=2)

    def public(self, record: PredictionRecord) -> dict[str, Any]:
        return record.public(self.api_url, self.public_url)

    # knobs ------------------------------------------------------------------

    def _take(self, counter: str) -> bool:
        """Consume one unit of a countdown knob (fail_next, throttle_next, error_next)."""
        with self._counter_lock:
            remaining = getattr(self.knobs, counter)
            if remaining > 0:
                setattr(self.knobs, counter, remaining - 1)
                return True
            return False

    def _draw(self) -> float:
        with self._counter_lock:
            if self.knobs.random_seed is not None and self.knobs.random_seed != self._rng_seed:
                self._rng_seed = self.knobs.random_seed
                self._rng.seed(self._rng_seed)
            return self._rng.random()

    # creation ---------------------------------------------------------------

    def resolve(self, version: str) -> ModelSpec:
        spec = self.registry.by_version(version) or next(
            (s for s in self.registry if official_version_id(s) == version.rpartition(":")[2]),
            None,
        )
        if spec is None:
            raise Rejection(404, f"Model or version not found: {version!r}", title="Not found")
        return spec

    def create(
        self,
        spec_ref: str,
        raw_input: dict[str, Any],
        webhook: str | None = None,
        events_filter: Sequence[str] | None = None,
    ) -> PredictionRecord:
        if self._take("throttle_next"):
            raise Rejection(
                429,
                "Request was throttled. Expected available in 1 second.",
                title="Too Many Requests",
                headers={"Retry-After": "1"},
            )
        if self._take("error_next"):
            raise Rejection(500, "Internal server error (sandbox error_next knob).")
        spec = self.resolve(spec_ref)
        merged = validated_input(spec, raw_input)
        record = PredictionRecord(
            id=new_prediction_id(),
            model_id=spec.id,
            model=spec.owner_and_name,
            version=official_version_id(spec),
            input=raw_input,
            created_at=utc_now(),
            webhook=webhook,
            webhook_events_filter=list(events_filter) if events_filter else list(EVENTS),
        )
        self._cancelled[record.id] = threading.Event()
        self.store.add(record)
        log.info("prediction created", extra=self._context(record))
        self._workers.submit(self._run_safely, record.id, spec, merged)
        if self._take("lose_response_next"):
            # The prediction exists, but the caller cannot know: the ambiguous failure.
            raise Rejection(500, "Internal server error (sandbox lose_response_next knob).")
        return record

    @staticmethod
    def _context(record: PredictionRecord) -> dict[str, Any]:
        return {"prediction_id": record.id, "model_id": record.model_id}

    # processing -------------------------------------------------------------

    def _advance(self, prediction_id: str, **changes: Any) -> PredictionRecord | None:
        """Apply changes unless the prediction already ended (e.g. it was canceled meanwhile)."""
        with self.store.lock:
            current = self.store.get(prediction_id)
            if current is None or current.terminal:
                return None
            if "logs" in changes:
                changes["logs"] = current.logs + changes["logs"]
            return self.store.update(prediction_id, **changes)

    def _run_safely(self, prediction_id: str, spec: ModelSpec, merged: dict[str, Any]) -> None:
        try:
            self._run(prediction_id, spec, merged)
        except Exception as exc:
            log.exception("prediction crashed", extra={"prediction_id": prediction_id})
            self._finish(prediction_id, "failed", error=f"Sandbox internal error: {exc}")

    def _run(self, prediction_id: str, spec: ModelSpec, merged: dict[str, Any]) -> None:
        cancelled = self._cancelled.setdefault(prediction_id, threading.Event())
        started = time.monotonic()
        seed = merged.get("seed")
        if not isinstance(seed, int) or seed < 0:
            seed = int(self._draw() * 2**31)
        record = self._advance(
            prediction_id, status="processing", started_at=utc_now(), logs=f"Using seed: {seed}\n"
        )
        if record is None:
            return
        self._notify(record, "start")
        if cancelled.wait(self.knobs.latency_s):
            return
        if self._take("fail_next") or self._draw() < self.knobs.failure_rate:
            self._finish(
                prediction_id,
                "failed",
                error="Prediction failed (sandbox failure knob).",
                started=started,  # it ran until it failed: Replicate bills that time
            )
            return
        record = self._advance(prediction_id, logs=f"Rendering {spec.task} for {spec.id}\n")
        if record is None:
            return
        self._notify(record, "logs")
        target = self.files_dir / prediction_id
        target.mkdir(parents=True, exist_ok=True)
        try:
            output, files = self._render(spec, merged, seed, target, prediction_id)
        except render.RenderError as exc:
            shutil.rmtree(target, ignore_errors=True)
            self._finish(prediction_id, "failed", error=str(exc), started=started)
            return
        # Replicate's per-image models report how many images they billed.
        images = len(files) if spec.task == "text-to-image" else None
        record = self._advance(
            prediction_id, output=output, files=files, image_count=images, logs="Done.\n"
        )
        if record is None:
            shutil.rmtree(target, ignore_errors=True)
            return
        self._notify(record, "output")
        self._finish(prediction_id, "succeeded", started=started)

    def _render(
        self,
        spec: ModelSpec,
        params: dict[str, Any],
        seed: int,
        target: Path,
        prediction_id: str,
    ) -> tuple[Any, list[str]]:
        def url(name: str) -> str:
            return f"{self.public_url}/files/{prediction_id}/{name}"

        prompt = str(params.get("prompt") or "")
        if spec.task == "text-to-image":
            width, height = render.image_size(params)
            extension = str(params.get("output_format", "png")).lower()
            quality = int(params.get("output_quality", 80))
            names = [f"out-{i}.{extension}" for i in range(int(params.get("num_outputs", 1)))]
            for index, name in enumerate(names):
                render.render_image(
                    prompt, seed + index, width, height, extension, quality, target / name
                )
            return [url(name) for name in names], names
        if spec.task == "image-to-video":
            source = str(params[spec.image_input or "input_image"])
            image = render.decode_image(fetch_input_file(source), "input_image")
            frames = render.SVD_FRAMES.get(str(params.get("video_length")), 25)
            fps = float(params.get("frames_per_second", 6))
            sizing = str(params.get("sizing_strategy", "maintain_aspect_ratio"))
            render.render_image_to_video(image, frames, fps, sizing, target / "output.mp4")
            return url("output.mp4"), ["output.mp4"]
        if spec.task == "text-to-video":
            duration = float(params.get("duration", 5))
            fps = float(params.get("fps") or params.get("frames_per_second") or 24)
            width, height = render.video_size(params)
            render.render_text_to_video(
                prompt, seed, duration, width, height, fps, target / "output.mp4"
            )
            return url("output.mp4"), ["output.mp4"]
        if spec.task == "text-to-speech":
            # Kokoro returns one WAV URL; the sandbox speaks with libespeak-ng (or a tone).
            from vsl_pipelines.sandbox import speech  # the one module that loads espeak-ng

            text = str(params.get(spec.text_input or "text") or "")
            voice = str(params.get("voice") or "")
            speech.render_speech(text, voice, float(params.get("speed", 1)), target / "output.wav")
            return url("output.wav"), ["output.wav"]
        duration = float(params.get("duration", 8))
        extension = str(params.get("output_format", "wav")).lower()
        name = f"output.{extension}"
        render.render_melody(seed, duration, extension, target / name)
        return url(name), [name]

    def _finish(
        self,
        prediction_id: str,
        status: str,
        *,
        error: str | None = None,
        started: float | None = None,
    ) -> None:
        changes: dict[str, Any] = {"status": status, "completed_at": utc_now()}
        if error:
            changes["error"] = error
            changes["logs"] = f"Error: {error}\n"
        if started is not None:
            changes["predict_time"] = time.monotonic() - started
        record = self._advance(prediction_id, **changes)
        if record is None:
            return
        self._cancelled.pop(prediction_id, None)
        log.info("prediction %s", status, extra=self._context(record))
        self._notify_completed(record)

    # webhooks ---------------------------------------------------------------

    def _notify(self, record: PredictionRecord, event: str) -> None:
        if record.webhook and event in record.webhook_events_filter:
            self.webhooks.deliver(record.webhook, self.public(record), final=False, event=event)

    def _notify_completed(self, record: PredictionRecord) -> None:
        if not record.webhook or "completed" not in record.webhook_events_filter:
            return
        if self._stopping.is_set():
            return
        stale = record.model_copy(update={"status": "processing", "completed_at": None})
        self._deliveries.submit(self._deliver_completed, record, stale)

    def _deliver_completed(self, record: PredictionRecord, stale: PredictionRecord) -> None:
        url, payload, webhook_id = record.webhook or "", self.public(record), new_webhook_id()
        self.webhooks.deliver(url, payload, final=True, webhook_id=webhook_id)
        for _ in range(self.knobs.duplicate_webhooks):
            self.webhooks.deliver(url, payload, final=False, webhook_id=webhook_id, event="dup")
        if self.knobs.out_of_order:
            self.webhooks.deliver(url, self.public(stale), final=False, event="stale")

    # other operations -------------------------------------------------------

    def get(self, prediction_id: str) -> PredictionRecord:
        record = self.store.get(prediction_id)
        if record is None:
            raise Rejection(404, f"Prediction not found: {prediction_id!r}", title="Not found")
        return record

    def cancel(self, prediction_id: str) -> PredictionRecord:
        with self.store.lock:
            record = self.get(prediction_id)
            if record.terminal:
                return record
            now = utc_now()
            # Canceled after it started, it is billed for the time it ran; before, nothing.
            ran = (now - record.started_at).total_seconds() if record.started_at else None
            record = self.store.update(
                prediction_id,
                status="canceled",
                completed_at=now,
                predict_time=ran,
                logs=record.logs + "Canceled.\n",
            )
        event = self._cancelled.pop(prediction_id, None)
        if event is not None:
            event.set()
        shutil.rmtree(self.files_dir / prediction_id, ignore_errors=True)
        log.info("prediction canceled", extra=self._context(record))
        self._notify_completed(record)
        return record

    def page(
        self,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        cursor: str | None = None,
    ) -> tuple[list[PredictionRecord], str | None, str | None]:
        """One page of predictions, newest first, with the next/previous cursors."""
        records = [
            r
            for r in self.store.all()
            if (created_after is None or r.created_at > created_after)
            and (created_before is None or r.created_at < created_before)
        ]
        size = self.config.page_size
        if cursor is None:
            page = records[:size]
        else:
            try:
                direction, boundary_time, boundary_id = decode_cursor(cursor)
            except ValueError as exc:
                raise Rejection(400, str(exc), title="Bad request") from None
            boundary = (boundary_time, boundary_id)
            if direction == "next":
                page = [r for r in records if (r.created_at, r.id) < boundary][:size]
            else:
                page = [r for r in records if (r.created_at, r.id) > boundary][-size:]
        if not page:
            return [], None, None
        first, last = (page[0].created_at, page[0].id), (page[-1].created_at, page[-1].id)
        has_newer = any((r.created_at, r.id) > first for r in records)
        has_older = any((r.created_at, r.id) < last for r in records)
        next_cursor = encode_cursor("next", page[-1]) if has_older else None
        previous_cursor = encode_cursor("previous", page[0]) if has_newer else None
        return page, next_cursor, previous_cursor

    # expiry -----------------------------------------------------------------

    def expire_due(self) -> None:
        """Delete the files of predictions that ended more than `output_ttl_s` ago."""
        cutoff = utc_now() - timedelta(seconds=self.knobs.output_ttl_s)
        for prediction_id in self.store.ended_before(cutoff):
            shutil.rmtree(self.files_dir / prediction_id, ignore_errors=True)
            record = self.store.update(prediction_id, data_removed=True)
            log.info("prediction outputs expired", extra=self._context(record))

    def _reap_forever(self) -> None:
        while not self._stopping.wait(0.25):
            try:
                self.expire_due()
            except Exception:
                log.exception("expiring outputs failed")

    def open_output(self, prediction_id: str, name: str) -> BinaryIO:
        """The file of an output, open for reading; Rejection 404 when unknown or expired (as
        Replicate answers), including a file expiry deleted in the instant before it was opened."""
        self.expire_due()
        record = self.store.get(prediction_id)
        if record is None or name not in record.files:
            raise Rejection(404, "File not found.", title="Not found")
        gone = Rejection(404, "This output has expired and was deleted.", title="Not found")
        if record.data_removed:
            raise gone
        try:
            return (self.files_dir / prediction_id / name).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise gone from None
