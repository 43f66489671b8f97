"""Samples of a text-to-speech model's voices, for people choosing one in the editor: one short
sentence per voice, spoken once by the model itself (a prediction through the generation
client: Replicate, or the sandbox's speech locally) and kept in the media store, so every
later listen, by anyone, costs nothing.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from vsl_pipelines.domain.registry import ModelSpec, RegistryError
from vsl_pipelines.domain.script import Voice, speech_input
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.logs import get_logger
from vsl_pipelines.storage.base import MediaStore

log = get_logger(__name__)
SAMPLE_TEXT = "Hello! This is how your narration sounds in my voice."
PREFIX = "voice-samples"
WAIT_S = 60.0
POLL_S = 0.5
FINISHED = ("succeeded", "failed", "canceled")
_making = threading.Lock()  # one sample made at a time per process: a second asker finds it


class SampleUnavailable(RuntimeError):
    """The model could not speak the sample now; the message is safe to show."""


def sample_key(model_id: str, voice: str) -> str:
    return f"{PREFIX}/{model_id}/{voice}.wav"


def sample_voices(spec: ModelSpec) -> tuple[str, ...]:
    """The voices a text-to-speech model offers (its `voice` choices), each with a sample."""
    if spec.task != "text-to-speech" or "voice" not in spec.constraints:
        return ()
    return tuple(str(c) for c in spec.constraints["voice"].choices or ())


def voice_sample(
    store: MediaStore,
    client: PredictionClient,
    spec: ModelSpec,
    voice: str,
    *,
    wait_s: float = WAIT_S,
    poll_s: float = POLL_S,
) -> str:
    """The stored sample of `spec` speaking in `voice` (made now if it never was): its key.
    SampleUnavailable when the prediction fails or takes longer than `wait_s`."""
    key = sample_key(spec.id, voice)
    if store.exists(key):
        return key
    with _making:
        if store.exists(key):
            return key
        try:
            model_input = speech_input(
                spec, Voice(model=spec.id, params={"voice": voice}), SAMPLE_TEXT
            )
        except RegistryError as exc:
            raise SampleUnavailable(str(exc)) from None
        prediction = client.create(spec, model_input, reserved_at=datetime.now(UTC))
        deadline = time.monotonic() + wait_s
        while prediction.get("status") not in FINISHED:
            if time.monotonic() > deadline:
                raise SampleUnavailable(f"{spec.id} did not speak the sample within {wait_s:g} s")
            time.sleep(poll_s)
            prediction = client.get(str(prediction["id"]))
        url = _output_url(prediction.get("output"))
        if prediction.get("status") != "succeeded" or url is None:
            raise SampleUnavailable(
                f"{spec.id} could not speak the sample: {prediction.get('error')}"
            )
        with tempfile.TemporaryDirectory(prefix="vsl-voice-") as folder:
            path = Path(folder) / "sample.wav"
            with httpx.stream("GET", url, timeout=30, follow_redirects=True) as answer:
                answer.raise_for_status()
                with path.open("wb") as out:
                    for chunk in answer.iter_bytes():
                        out.write(chunk)
            store.put_file(key, path)
    log.info("voice sample made", extra={"model_id": spec.id, "fields": {"voice": voice}})
    return key


def _output_url(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    return (
        output if isinstance(output, str) and output.startswith(("http://", "https://")) else None
    )
