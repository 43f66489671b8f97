import pytest

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.scripts import ScriptExists, insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import Script


def _job(conn, take: int = 1) -> dict:
    return job_rows.reserve_job(
        conn,
        script_id="spring-launch",
        section_id="hook",
        stage="keyframe",
        take=take,
        model_id="flux-schnell",
        model_input={"prompt": "x"},
        estimated_cost_usd=0.003,
        pricing={"basis": "output", "usd": 0.003},
    )


def test_attempts_count_up_per_take(database_url: str, stored_script: Script) -> None:
    with connect(database_url) as conn:
        first, second, other_take = _job(conn), _job(conn), _job(conn, take=2)
    assert (first.attempt, second.attempt, other_take.attempt) == (1, 2, 1)
    assert first.status == "creating"


def test_status_never_moves_backwards(database_url: str, stored_script: Script) -> None:
    with connect(database_url) as conn:
        job = _job(conn)
        job_rows.attach_prediction(conn, job.id, {"id": "p1", "status": "starting"})
        done = {
            "id": "p1",
            "status": "succeeded",
            "output": ["http://x/a.png"],
            "metrics": {"predict_time": 1.5},
            "completed_at": "2026-11-23T10:00:00Z",
        }
        assert job_rows.apply_prediction(conn, done)
        assert not job_rows.apply_prediction(conn, {"id": "p1", "status": "processing"})
        assert not job_rows.apply_prediction(conn, done)  # a duplicate changes nothing
        assert not job_rows.apply_prediction(conn, {"id": "unknown", "status": "succeeded"})
        row = conn.execute("SELECT * FROM jobs WHERE id = %s", (job.id,)).fetchone()
    assert row["status"] == "succeeded"
    assert row["output"] == ["http://x/a.png"]
    assert row["predict_time_s"] == 1.5
    assert row["completed_at"] is not None


def test_latest_jobs_keeps_newest_attempt(database_url: str, stored_script: Script) -> None:
    with connect(database_url) as conn:
        first = _job(conn)
        job_rows.mark(conn, first.id, "failed", error="boom")
        second = _job(conn)
        latest = job_rows.latest_jobs(conn, "spring-launch", "keyframe")
    assert [j.id for j in latest] == [second.id]


def test_a_script_id_is_stored_once(database_url: str, stored_script: Script) -> None:
    with connect(database_url) as conn, pytest.raises(ScriptExists, match="already stored"):
        insert_script(conn, stored_script, None, default_workspace_id(conn))
    with connect(database_url) as conn:
        count = conn.execute("SELECT count(*) AS n FROM sections").fetchone()["n"]
    assert count == 3
