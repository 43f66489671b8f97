"""Log lines in the original system's shape: its documented CloudWatch Logs Insights query
(`fields @timestamp, jobId, modelId, error | filter level = "ERROR" | stats count() by modelId`)
run over the real lines this code writes while generating, failing and completing."""

from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.fixtures.sandbox import RunningSandbox
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.progress import poll_stale_jobs
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import JsonFormatter
from vsl_pipelines.services.adhoc import AdhocNotCreated, plan_adhoc, submit_adhoc


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the processes' JSON handler writes, captured for the test."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def _ended(db: Database, public_id: str) -> bool:
    with db.connect() as conn:
        row = job_rows.document_row(conn, public_id)
    return row is not None and row.status not in job_rows.ACTIVE


def insights_errors_by_model(text: str) -> Counter[str]:
    """The original's query: `filter level = "ERROR" | stats count() by modelId`."""
    parsed = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return Counter(str(line.get("modelId")) for line in parsed if line.get("level") == "ERROR")


def test_the_original_insights_query_counts_errors_by_model(
    lines: io.StringIO,
    db: Database,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    registry: Registry,
) -> None:
    with db.connect() as conn:
        actor = Actor(default_workspace_id(conn), "logs-test", Role.WRITER, user_id="user123")
    status = JobStatusLayers(db)
    made = submit_adhoc(
        db,
        prediction_client,
        plan_adhoc(registry, "image", "flux-schnell", {"prompt": "a lamp"}),
        actor,
        "user123",
        status,
    )
    sandbox.knobs.error_next = 1_000  # every create answers 500: the job fails where it enters
    with pytest.raises(AdhocNotCreated):
        submit_adhoc(
            db,
            prediction_client,
            plan_adhoc(registry, "image", "sdxl", {"prompt": "a lamp"}),
            actor,
            "user123",
            status,
        )
    sandbox.knobs.error_next = 0
    deadline = time.monotonic() + 30
    while not _ended(db, made["jobId"]):  # until the flux-schnell prediction's end is recorded
        assert time.monotonic() < deadline, "the prediction never ended"
        poll_stale_jobs(db, prediction_client, older_than_s=0, status=status)
        time.sleep(0.05)

    assert insights_errors_by_model(lines.getvalue()) == {"sdxl": 1}
    parsed = [json.loads(line) for line in lines.getvalue().splitlines()]
    for line in parsed:
        assert line["timestamp"].endswith("Z") and line["level"].isupper()
        datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    [error] = [line for line in parsed if line["level"] == "ERROR"]
    assert (error["modelId"], error["userId"], error["mediaType"]) == ("sdxl", "user123", "image")
    assert len(error["jobId"]) == 36 and "error" in error  # the public job id, the reason
    [submitted] = [line for line in parsed if line["msg"] == "ad-hoc prediction submitted"]
    assert submitted["jobId"] == made["jobId"]
    [completed] = [line for line in parsed if line.get("action") == "job_completed"]
    assert completed["modelId"] == "flux-schnell" and isinstance(completed["duration"], int)
    assert completed["duration"] == round(completed["ProcessingTime"] * 1000)  # milliseconds
