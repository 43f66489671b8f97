"""Samples of a text-to-speech model's voices, for people choosing one in the editor: one short
sentence per voice, spoken once by the model itself (a prediction through the generation
client: Replicate, or the sandbox's speech locally) and kept in the media store, so every
later listen, by anyone, costs nothing.

Making a sample is spend of the workspace that asked for it, as an ad-hoc generation is: its
estimate is reserved against the workspace's monthly budget (BudgetExceeded: nothing is made or
stored), its job row carries the prediction's actual cost once it ends, and the cost dashboard
and every report count it. The job is recorded as collected from the start: the sample is
stored here, under its voice's key, so neither the ad-hoc day's run nor the webhook collector
stores its output a second time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from vsl_pipelines.db import audit
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow
from vsl_pipelines.domain.registry import ModelSpec, RegistryError
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.domain.script import Voice, speech_input
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.adhoc import PredictionNotCreated, create_for_job, reserve_job
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


class SampleNotAllowed(PermissionError):
    """A new sample is spend, which a viewer may not make (a stored one plays for anyone)."""


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
    db: Database,
    actor: Actor,
    wait_s: float = WAIT_S,
    poll_s: float = POLL_S,
) -> str:
    """The stored sample of `spec` speaking in `voice`: its key. A stored one is free; one never
    made is made now, as spend of `actor`'s workspace (SampleNotAllowed for a viewer;
    BudgetExceeded when its budget has no room for the estimate: nothing is made or stored). SampleUnavailable when the prediction
    fails or takes longer than `wait_s` (what it cost is counted all the same)."""
    key = sample_key(spec.id, voice)
    if store.exists(key):
        return key
    with _making:
        if store.exists(key):
            return key
        if not actor.may(Role.WRITER):
            raise SampleNotAllowed(
                f"{voice!r} has no sample yet, and making one is spend that a {actor.role}"
                " may not make (a writer's first listen makes it)"
            )
        try:
            model_input = speech_input(
                spec, Voice(model=spec.id, params={"voice": voice}), SAMPLE_TEXT
            )
            cost = spec.estimate_cost(model_input)
        except RegistryError as exc:
            raise SampleUnavailable(str(exc)) from None
        job = _reserve(db, spec, voice, model_input, cost, actor)
        prediction = _create(db, client, spec, model_input, job)
        deadline = time.monotonic() + wait_s
        while prediction.get("status") not in FINISHED:
            if time.monotonic() > deadline:
                raise SampleUnavailable(f"{spec.id} did not speak the sample within {wait_s:g} s")
            time.sleep(poll_s)
            prediction = client.get(str(prediction["id"]))
            with db.connect() as conn:  # its status, and its actual cost once it ends
                job_rows.apply_prediction(conn, prediction)
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
    log.info(
        "voice sample made",
        extra={
            "model_id": spec.id,
            "job_id": job.id,
            "fields": {"voice": voice, "workspace_id": actor.workspace_id},
        },
    )
    return key


def _reserve(
    db: Database,
    spec: ModelSpec,
    voice: str,
    model_input: dict[str, Any],
    cost: float,
    actor: Actor,
) -> JobRow:
    """The sample's job, its estimate reserved under the workspace's lock (BudgetExceeded:
    nothing written), collected from the start (the sample is stored here), audited."""
    with db.connect() as conn:
        job = reserve_job(conn, actor, actor.user_id or actor.name, spec, model_input, cost)
        job_rows.mark_collected(conn, job.id)
        audit.record(
            conn,
            actor.workspace_id,
            actor.name,
            "voice_sample.requested",
            f"job:{job.public_id}",
            {"model": spec.id, "voice": voice, "estimated_cost_usd": cost},
        )
    return job


def _create(
    db: Database,
    client: PredictionClient,
    spec: ModelSpec,
    model_input: dict[str, Any],
    job: JobRow,
) -> dict[str, Any]:
    """The sample's prediction, attached to its job; a prediction never created fails the job
    (it then counts nothing) and is SampleUnavailable."""
    try:
        return create_for_job(db, client, spec, model_input, job)
    except PredictionNotCreated as exc:
        raise SampleUnavailable(f"{spec.id} could not speak the sample: {exc.reason}") from None


def _output_url(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    return (
        output if isinstance(output, str) and output.startswith(("http://", "https://")) else None
    )
