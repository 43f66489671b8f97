"""Actual cost as Replicate bills it, from sandbox predictions of every registry model: each
ended prediction is priced by its model's rule from what the prediction reports
(`metrics.predict_time` x the hardware's rate, or its images x the price per image); a
prediction that failed while running is billed for the time it ran; one that Replicate never
created costs nothing; and the status document shows both figures side by side."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from tests.fixtures.sandbox import RunningSandbox
from vsl_pipelines.db import budgets
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.billing import HARDWARE_USD_PER_SECOND
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.progress import poll_stale_jobs
from vsl_pipelines.job_status.documents import job_document
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.services.adhoc import AdhocNotCreated, plan_adhoc, submit_adhoc

PARAMETERS: dict[str, dict[str, Any]] = {
    "flux-schnell": {"prompt": "a lamp on a desk", "num_outputs": 2},
    "sdxl": {"prompt": "a lamp on a desk", "width": 256, "height": 256},
    "stability-video": {},  # its input_image: a flux-schnell output (below)
    "musicgen": {"prompt": "calm piano", "duration": 2},
    "kokoro-82m": {"text": "Meet the lamp."},
}


def _actor(db: Database) -> Actor:
    with db.connect() as conn:
        return Actor(default_workspace_id(conn), "billing-test", Role.WRITER, user_id="u-bill")


def _generate(
    db: Database, client: PredictionClient, registry: Registry, model_id: str, **params: Any
) -> job_rows.JobRow:
    """One ad-hoc generation through the service path, followed (by polling Replicate, as the
    reconciler does) until it ends; the job as stored."""
    spec = registry.get(model_id)
    plan = plan_adhoc(registry, spec.kind, model_id, {**PARAMETERS[model_id], **params})
    status = JobStatusLayers(db)
    answer = submit_adhoc(db, client, plan, _actor(db), "u-bill", status)
    deadline = time.monotonic() + 60
    while True:
        poll_stale_jobs(db, client, older_than_s=0, status=status)
        with db.connect() as conn:
            row = job_rows.document_row(conn, answer["jobId"])
        assert row is not None
        if row.status not in job_rows.ACTIVE:
            return row
        assert time.monotonic() < deadline, f"{model_id} still {row.status}"
        time.sleep(0.1)


def test_every_registry_model_is_billed_by_its_rule(
    db: Database, prediction_client: PredictionClient, registry: Registry
) -> None:
    flux = _generate(db, prediction_client, registry, "flux-schnell")
    image_url = flux.output[0]
    jobs = {"flux-schnell": flux}
    for model_id in ("sdxl", "stability-video", "musicgen", "kokoro-82m"):
        extra = {"input_image": image_url} if model_id == "stability-video" else {}
        jobs[model_id] = _generate(db, prediction_client, registry, model_id, **extra)
    assert set(jobs) == {spec.id for spec in registry}, "a registry model is not covered"
    for model_id, job in jobs.items():
        assert job.status == "succeeded", (model_id, job.error)
        prediction = prediction_client.get(str(job.prediction_id))  # what Replicate reports
        pricing = registry.get(model_id).pricing
        if pricing.basis == "output":
            assert prediction["metrics"]["image_count"] == len(prediction["output"]) == 2
            expected = Decimal("0.003") * 2
        else:
            assert pricing.basis == "hardware" and pricing.hardware is not None
            seconds = Decimal(str(prediction["metrics"]["predict_time"]))
            assert seconds > 0
            expected = (HARDWARE_USD_PER_SECOND[pricing.hardware] * seconds).quantize(
                Decimal("0.000001")
            )
        assert (job.actual_cost_usd, job.cost_source) == (expected, "billed"), model_id
        document = job_document(job)
        assert document["actualCost"] == float(expected)
        assert document["estimatedCost"] == pytest.approx(float(job.estimated_cost_usd))
        assert document["predictTime"] == pytest.approx(
            prediction["metrics"]["predict_time"], abs=0.001
        )
        assert document["costSource"] == "billed"


def test_a_failure_is_billed_for_the_time_it_ran_and_a_refused_create_costs_nothing(
    db: Database,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    registry: Registry,
) -> None:
    sandbox.knobs.fail_next = 1  # the model fails after running (latency_s)
    failed = _generate(db, prediction_client, registry, "sdxl")
    assert failed.status == "failed" and failed.predict_time_s is not None
    assert failed.predict_time_s >= sandbox.knobs.latency_s * 0.9
    rate = HARDWARE_USD_PER_SECOND["gpu-l40s"]
    assert failed.actual_cost_usd == (rate * Decimal(str(failed.predict_time_s))).quantize(
        Decimal("0.000001")
    )
    sandbox.knobs.fail_next = 1
    failed_image = _generate(db, prediction_client, registry, "flux-schnell")
    assert (failed_image.status, failed_image.actual_cost_usd) == ("failed", Decimal(0))

    sandbox.knobs.error_next = 1_000  # Replicate answers 500 to every create
    plan = plan_adhoc(registry, "image", "sdxl", {**PARAMETERS["sdxl"], "prompt": "refused"})
    with pytest.raises(AdhocNotCreated) as refused:
        submit_adhoc(db, prediction_client, plan, _actor(db), "u-bill", JobStatusLayers(db))
    sandbox.knobs.error_next = 0
    with db.connect() as conn:
        never = job_rows.document_row(conn, refused.value.job_id)
        # What the workspace's month counts: the billed failures; nothing for the refused create.
        spent = budgets.hold_workspace_month(conn, default_workspace_id(conn)).committed_usd
    assert never is not None and never.prediction_id is None and never.status == "failed"
    assert spent == failed.actual_cost_usd


def test_the_same_input_twice_gets_two_predictions_even_when_a_create_is_ambiguous(
    db: Database,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    registry: Registry,
) -> None:
    """A 500 on create may hide a prediction Replicate made; the client then looks for one with
    the same input, but never takes the one another job already holds (it would be billed to
    both, and the second job could not store it)."""
    first = _generate(db, prediction_client, registry, "flux-schnell")
    sandbox.knobs.error_next = 1  # the next create answers 500 without creating
    second = _generate(db, prediction_client, registry, "flux-schnell")
    assert second.prediction_id is not None and second.prediction_id != first.prediction_id
    assert (first.status, second.status) == ("succeeded", "succeeded")
