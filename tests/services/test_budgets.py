"""Budgets that hold under concurrency (issue 22): a workspace with a $0.05 month receives 40
concurrent ad-hoc flux-schnell requests ($0.003 each) over real HTTP; exactly as many as fit
are accepted (16), every refusal is a 402 naming the budget, what is spent or reserved and
what the request would cost, and nothing refused is stored. Script generation racing ad-hoc
requests in one workspace is held by the same lock."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from tests.fixtures.api import StartApi
from vsl_pipelines.db import budgets
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.progress import poll_stale_jobs
from vsl_pipelines.generation.stages import BudgetExceeded
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.services.generation import Submission
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import create_workspace
from vsl_pipelines.storage.local import LocalMediaStore

REQUEST = {
    "userId": "racer",
    "mediaType": "image",
    "modelId": "flux-schnell",
    "parameters": {"prompt": "a lamp"},
}


def _counts(db: Database, slug: str) -> tuple[int, Decimal]:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, COALESCE(sum(j.estimated_cost_usd), 0) AS usd FROM jobs j"
            " JOIN workspaces w ON w.id = j.workspace_id WHERE w.slug = %s",
            (slug,),
        ).fetchone()
    assert row is not None
    return int(row["n"]), Decimal(row["usd"])


def test_forty_concurrent_requests_fill_the_month_and_no_more(
    db: Database, start_api: StartApi, prediction_client: PredictionClient
) -> None:
    with db.connect() as conn:
        create_workspace(conn, "thrifty", "Thrifty", 0.05, "test")
    _, key = create_key(db, "racer", workspace="thrifty", role=Role.WRITER, rate_per_minute=10_000)
    service = start_api(api_key="bootstrap", predictions=prediction_client)

    def ask(_: int) -> httpx.Response:
        return httpx.post(
            f"{service.url}/api/generate-media",
            json=REQUEST,
            headers={"x-api-key": key},
            timeout=60,
        )

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(ask, range(40)))
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(accepted) == 16, [a.text[:200] for a in refused[:3]]  # 16 x $0.003 <= $0.05
    assert {a.status_code for a in refused} == {402}
    for answer in refused:
        detail = answer.json()["detail"]
        assert "workspace 'thrifty': monthly budget $0.05" in detail
        assert "spent or reserved this month" in detail and "would cost $0.003" in detail
    jobs, usd = _counts(db, "thrifty")
    assert jobs == 16 and usd <= Decimal("0.05"), "nothing refused was stored"
    # Once the accepted predictions end, their actual (billed) cost is within the budget too.
    deadline = time.monotonic() + 60
    while _active(db, "thrifty"):
        assert time.monotonic() < deadline, "predictions still running"
        poll_stale_jobs(db, prediction_client, older_than_s=0, status=JobStatusLayers(db))
        time.sleep(0.1)
    with db.connect() as conn:
        billed = conn.execute(
            "SELECT count(*) FILTER (WHERE j.cost_source = 'billed') AS n,"
            " sum(j.actual_cost_usd) AS usd FROM jobs j"
            " JOIN workspaces w ON w.id = j.workspace_id WHERE w.slug = 'thrifty'"
        ).fetchone()
    assert billed is not None and billed["n"] == 16
    assert billed["usd"] == Decimal("0.048") <= Decimal("0.05")  # one image each, $0.003


def _active(db: Database, slug: str) -> bool:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM jobs j JOIN workspaces w ON w.id = j.workspace_id"
            " WHERE w.slug = %s AND j.status IN ('creating', 'starting', 'processing')",
            (slug,),
        ).fetchone()
    return bool(row and row["n"])


def test_script_generation_racing_adhoc_requests_is_held_by_the_same_lock(
    db: Database,
    start_api: StartApi,
    prediction_client: PredictionClient,
    sample_script: Script,
    registry: Registry,
    service_media_root: object,
) -> None:
    # The month holds the script's three keyframes ($0.009) and three ad-hoc images, or the
    # other way round: never both in full.
    with db.connect() as conn:
        workspace = create_workspace(conn, "racing", "Racing", 0.015, "test")
        script = sample_script.model_copy(update={"id": "racing-launch", "budget_usd": None})
        insert_script(conn, script, None, workspace.id)
    _, key = create_key(db, "racer2", workspace="racing", role=Role.WRITER, rate_per_minute=10_000)
    service = start_api(api_key="bootstrap", predictions=prediction_client)
    submission = Submission(
        db,
        prediction_client,
        registry,
        LocalMediaStore(service_media_root, "http://127.0.0.1:1/media"),  # type: ignore[arg-type]
        JobStatusLayers(db),
    )

    def adhoc(_: int) -> int:
        return httpx.post(
            f"{service.url}/api/generate-media",
            json=REQUEST,
            headers={"x-api-key": key},
            timeout=60,
        ).status_code

    def generate() -> str:
        try:
            submission.submit("racing-launch", "keyframe")
        except BudgetExceeded as exc:
            return str(exc)
        return "submitted"

    with ThreadPoolExecutor(8) as pool:
        script_run = pool.submit(generate)
        statuses = list(pool.map(adhoc, range(6)))
    outcome = script_run.result()
    jobs, usd = _counts(db, "racing")
    assert usd <= Decimal("0.015"), f"overspent: {usd}"
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, COALESCE(sum(estimated_cost_usd), 0) AS usd FROM jobs"
            " WHERE script_id = 'racing-launch'"
        ).fetchone()
    assert row is not None
    keyframes, keyframes_usd = int(row["n"]), Decimal(row["usd"])
    room = Decimal("0.015") - keyframes_usd
    if outcome == "submitted":
        assert keyframes == 3, "the stage is reserved whole"
        assert statuses.count(202) == int(room // Decimal("0.003")), (keyframes_usd, statuses)
    else:
        assert "monthly budget $0.015" in outcome and keyframes == 0
        assert statuses.count(202) == 5, statuses  # five images fit before the stage would
    assert statuses.count(202) + keyframes == jobs
    with db.connect() as conn:
        month = budgets.hold_workspace_month(conn, workspace.id)
    assert month.committed_usd == usd


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_prediction_never_created_costs_nothing(db: Database, status: str) -> None:
    with db.connect() as conn:
        workspace = create_workspace(conn, "tidy", "Tidy", 1.0, "test")
        conn.execute(
            "INSERT INTO jobs (script_id, section_id, stage, take, model_id, input,"
            " estimated_cost_usd, media_type, workspace_id, status, prediction_id) VALUES"
            " (NULL, '', 'adhoc', 1, 'm', '{}', 0.5, 'image', %s, %s, NULL),"
            " (NULL, '', 'adhoc', 1, 'm', '{}', 0.25, 'image', %s, 'failed', 'p-created')",
            (workspace.id, status, workspace.id),
        )
        month = budgets.hold_workspace_month(conn, workspace.id)
    assert month.committed_usd == Decimal("0.25"), "a created prediction that failed still counts"


def test_a_budget_crossed_by_actual_costs_stops_new_predictions(
    db: Database, start_api: StartApi, prediction_client: PredictionClient
) -> None:
    """A model that ran longer than estimated: its billed cost takes the month past its budget;
    the next request is refused, naming what was spent."""
    with db.connect() as conn:
        workspace = create_workspace(conn, "overrun", "Overrun", 0.01, "test")
        conn.execute(
            "INSERT INTO jobs (script_id, section_id, stage, take, model_id, input,"
            " estimated_cost_usd, actual_cost_usd, cost_source, media_type, workspace_id,"
            " prediction_id, status, predict_time_s) VALUES (NULL, '', 'adhoc', 1, 'sdxl', '{}',"
            " 0.004875, 0.0117, 'billed', 'image', %s, 'p-long', 'succeeded', 12.0)",
            (workspace.id,),
        )
    _, key = create_key(db, "late", workspace="overrun", role=Role.WRITER)
    service = start_api(api_key="bootstrap", predictions=prediction_client)
    refused = httpx.post(
        f"{service.url}/api/generate-media",
        json=REQUEST,
        headers={"x-api-key": key},
        timeout=60,
    )
    assert refused.status_code == 402, refused.text
    assert refused.json()["detail"] == (
        "budget: workspace 'overrun': monthly budget $0.01, $0.0117 spent or reserved this month;"
        " this request would cost $0.003"
    )
    assert _counts(db, "overrun")[0] == 1, "nothing stored for the refusal"
