"""Cost analytics over real job rows: by day, model and script, and the daily Dagster asset."""

from __future__ import annotations

from datetime import date
from typing import Any

import dagster as dg
import httpx
import pytest

from tests.fixtures.scripts import record_job
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.costs.assets import cost_report
from vsl_pipelines.defs.resources import DatabaseResource
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.costs import cost_report as build_cost_report


@pytest.fixture
def spent(db: Database, stored_script: Script) -> Database:
    """Script predictions of flux-schnell ($0.003 an image): on Nov 3 one billed $0.002 and one
    failed (billed nothing), and an ad-hoc sdxl one (no predict_time reported: its $0.01
    estimate stands); one on Nov 4 billed $0.003; one still being created (not spent)."""
    with db.connect() as conn:
        for prediction, status, day in (
            ("p1", "succeeded", "2026-11-03 10:00"),
            ("p2", "failed", "2026-11-03 23:59"),
            ("p3", "succeeded", "2026-11-04 00:00"),
        ):
            job_id = record_job(conn, prediction, status)
            conn.execute(
                "UPDATE jobs SET created_at = %s::timestamptz, take = %s WHERE id = %s",
                (f"{day}+00", job_id, job_id),
            )
        conn.execute(
            "UPDATE jobs SET actual_cost_usd = 0.002 WHERE prediction_id = 'p1'"
        )  # a discount
        conn.execute(
            "INSERT INTO jobs (script_id, section_id, stage, take, model_id, input,"
            " estimated_cost_usd, created_at, media_type, workspace_id) VALUES ('spring-launch',"
            " 'offer', 'clip', 1, 'sdxl', '{}', 0.5, '2026-11-03 12:00+00', 'video', %s)",
            (default_workspace_id(conn),),
        )
        adhoc = job_rows.reserve_adhoc_job(
            conn,
            workspace_id=default_workspace_id(conn),
            user_id="u-7",
            media_type="image",
            model_id="sdxl",
            model_input={"prompt": "x"},
            estimated_cost_usd=0.01,
            pricing={"basis": "hardware", "hardware": "gpu-l40s"},
        )
        job_rows.attach_prediction(conn, adhoc.id, {"id": "p-adhoc", "status": "succeeded"})
        conn.execute(
            "UPDATE jobs SET created_at = '2026-11-03 15:00+00' WHERE id = %s", (adhoc.id,)
        )
    return db


def test_a_report_totals_and_groups_the_days(spent: Database) -> None:
    report = build_cost_report(spent, date(2026, 11, 3), date(2026, 11, 4))
    assert (report["jobs"], report["succeeded"], report["failed"]) == (4, 3, 1)
    assert report["estimated_usd"] == 0.019 and report["actual_usd"] == 0.015
    assert report["spent_usd"] == 0.015 and report["billed_jobs"] == 3
    # flux-schnell billed $0.005 for $0.009 of estimates: more than 25% off, flagged.
    assert report["estimates_off"] == {"flux-schnell": 0.5556}
    assert report["by_model"]["sdxl"]["billed_over_estimate"] is None  # nothing billed yet
    assert set(report["by_day"]) == {"2026-11-03", "2026-11-04"}
    assert report["by_day"]["2026-11-03"]["jobs"] == 3
    assert report["by_model"]["flux-schnell"]["estimated_usd"] == 0.009
    assert report["by_model"]["sdxl"]["estimated_usd"] == 0.01
    assert report["by_script"]["spring-launch"]["jobs"] == 3
    assert report["by_script"]["(ad-hoc)"]["jobs"] == 1
    assert report["by_user"] == {
        "(scripts)": {**report["by_script"]["spring-launch"]},
        "u-7": {**report["by_script"]["(ad-hoc)"]},
    }
    one_day = build_cost_report(spent, date(2026, 11, 4), date(2026, 11, 4))
    assert one_day["jobs"] == 1 and one_day["estimated_usd"] == 0.003


def test_the_daily_asset_records_the_days_figures(spent: Database) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [cost_report],
            partition_key="2026-11-03",
            resources={"database": DatabaseResource(url=spent.url)},
            instance=instance,
        )
    [event] = result.asset_materializations_for_node("cost_report")
    metadata = event.metadata
    assert metadata["estimated_usd"].value == 0.016 and metadata["jobs"].value == 3
    assert metadata["spent_usd"].value == 0.012 and metadata["failed_jobs"].value == 1
    assert metadata["usd_flux-schnell"].value == 0.002  # what was spent: billed, not estimated
    assert metadata["usd_sdxl"].value == 0.01
    assert metadata["adhoc_usd"].value == 0.01
    assert metadata["by_script"].value["spring-launch"]["actual_usd"] == 0.002
    assert metadata["by_user"].value["u-7"]["jobs"] == 1
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "estimates_within_25_percent" and not check.passed
    assert check.metadata["estimates_off"].value == {"flux-schnell": 0.3333}


def test_the_api_gives_the_figures_grouped(spent: Database, start_api: Any) -> None:
    service = start_api()
    url = f"{service.url}/api/costs"
    by_model = httpx.get(url, params={"from": "2026-11-03", "to": "2026-11-04", "groupBy": "model"})
    assert by_model.status_code == 200, by_model.text
    body = by_model.json()
    assert (body["from"], body["to"], body["groupBy"]) == ("2026-11-03", "2026-11-04", "model")
    assert body["total"] == {
        "jobs": 4,
        "succeeded": 3,
        "failed": 1,
        "estimatedUsd": 0.019,
        "actualUsd": 0.015,
        "spentUsd": 0.015,
        "billedJobs": 3,
        "billedOverEstimate": 0.5556,
    }
    assert body["estimatesOff"] == {"flux-schnell": 0.5556}
    assert list(body["groups"]) == ["flux-schnell", "sdxl"]
    by_user = httpx.get(url, params={"from": "2026-11-03", "groupBy": "user"}).json()
    assert {u: g["jobs"] for u, g in by_user["groups"].items()} == {"(scripts)": 3, "u-7": 1}
    by_day = httpx.get(url, params={"from": "2026-11-03", "to": "2026-11-04"}).json()
    assert {d: g["jobs"] for d, g in by_day["groups"].items()} == {
        "2026-11-03": 3,
        "2026-11-04": 1,
    }
    for params, field in (
        ({"from": "2026-11-05", "to": "2026-11-04"}, "from"),
        ({"from": "2020-01-01", "to": "2026-11-04"}, "from/to"),
        ({"from": "yesterday"}, "from"),
        ({"groupBy": "customer"}, "groupBy"),
    ):
        refused = httpx.get(url, params=params)
        assert refused.status_code == 422 and field in refused.text, (params, refused.text)
