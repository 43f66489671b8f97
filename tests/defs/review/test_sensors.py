"""The approval sensor over the real approval log: retakes, superseded takes, compile requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from tests.fixtures.scripts import record_clip as record_stored_clip
from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.review.sensors import approval_tick, build_approval_sensor
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import AlreadyDecided, Review, decide

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


def record_clip(db: Database, section: str, take: int = 1) -> None:
    with db.connect() as conn:
        record_stored_clip(conn, section, take)


@pytest.fixture
def in_review(db: Database, stored_script: Script) -> Database:
    """The sample script with a clip for take 1 of every section, waiting for review."""
    for section in SECTIONS:
        record_clip(db, section)
    with db.connect() as conn:
        conn.execute("UPDATE scripts SET status = 'review' WHERE id = %s", (SCRIPT,))
    return db


def _decide(db: Database, section: str, decision: str, **kwargs: Any) -> int:
    with db.connect() as conn:
        return decide(conn, SCRIPT, section, decision, **kwargs).id


def _section(db: Database, section: str) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT current_take, overrides FROM sections WHERE script_id = %s AND id = %s",
            (SCRIPT, section),
        ).fetchone()
        status = conn.execute("SELECT status FROM scripts WHERE id = %s", (SCRIPT,)).fetchone()
    return {**row, "status": status["status"]}


def test_the_cursor_follows_approval_ids_in_batches(in_review: Database) -> None:
    ids = [_decide(in_review, s, "approved") for s in SECTIONS]
    _, cursor = approval_tick(0, Review(in_review), batch=2)
    assert cursor == ids[1]
    _, cursor = approval_tick(cursor, Review(in_review), batch=2)
    assert cursor == ids[2]
    requests, again = approval_tick(cursor, Review(in_review), batch=2)
    assert (requests, again) == ([], ids[2])


def test_a_rejection_starts_the_next_take_and_requests_generation(in_review: Database) -> None:
    approval_id = _decide(in_review, "hook", "rejected", prompt="a new prompt", seed=7)
    requests, cursor = approval_tick(0, Review(in_review), batch=200)
    assert cursor == approval_id
    assert _section(in_review, "hook") == {
        "current_take": 2,
        "overrides": {"prompt": "a new prompt", "seed": 7},
        "status": "generating",
    }
    assert _section(in_review, "offer")["current_take"] == 1
    [request] = requests
    assert request.run_key == f"retake:{approval_id}"
    assert request.job_name == "generate"
    assert request.partition_key == SCRIPT
    # The per-step concurrency limit applies; the rest (section, take) is the run key's.
    assert request.tags == {"vsl/script_id": SCRIPT, "vsl/step": "requests"}


def test_rejections_of_one_script_in_a_batch_start_one_generation_run(
    in_review: Database,
) -> None:
    """The hook's and the offer's clips rejected before the sensor ran: both move to take 2,
    and one run (keyed by the later rejection) asks for what both lack."""
    _decide(in_review, "hook", "rejected", prompt="a new prompt")
    later = _decide(in_review, "offer", "rejected", seed=3)
    requests, cursor = approval_tick(0, Review(in_review), batch=200)
    assert cursor == later
    assert [(r.run_key, r.partition_key) for r in requests] == [(f"retake:{later}", SCRIPT)]
    assert _section(in_review, "hook")["current_take"] == 2
    assert _section(in_review, "offer")["current_take"] == 2


def test_a_second_rejection_of_a_take_is_refused_and_starts_nothing(in_review: Database) -> None:
    # Two reviewers reject the same take before the sensor runs: one retake, not two.
    first = _decide(in_review, "hook", "rejected", seed=7)
    with pytest.raises(AlreadyDecided):
        _decide(in_review, "hook", "rejected", prompt="another idea")
    requests, cursor = approval_tick(0, Review(in_review), batch=200)
    assert cursor == first
    assert [r.run_key for r in requests] == [f"retake:{first}"]
    assert _section(in_review, "hook")["current_take"] == 2
    assert _section(in_review, "hook")["overrides"] == {"seed": 7}


def test_partial_approval_requests_nothing(in_review: Database) -> None:
    _decide(in_review, "hook", "approved")
    _decide(in_review, "offer", "approved")
    requests, _ = approval_tick(0, Review(in_review), batch=200)
    assert requests == []
    assert _section(in_review, "hook")["status"] == "review"


def _compile_requests(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT * FROM compilations WHERE script_id = %s ORDER BY id", (SCRIPT,)
        ).fetchall()


def test_the_last_approval_records_one_compile_request(in_review: Database) -> None:
    cursor = 0
    for section in ("hook", "offer"):
        _decide(in_review, section, "approved")
        requests, cursor = approval_tick(cursor, Review(in_review), batch=200)
        assert requests == []
    assert _compile_requests(in_review) == []
    last = _decide(in_review, "close", "approved")
    requests, cursor = approval_tick(cursor, Review(in_review), batch=200)
    assert requests == [], "the compile request sensor launches the run"
    [request] = _compile_requests(in_review)
    assert (request["status"], request["approval_id"]) == ("requested", last)
    assert (request["output_format"], request["quality"], request["options"]) == (
        "mp4",
        "standard",
        {},
    ), "the script's own output options"
    # The same approvals read again (a tick whose cursor was lost) record nothing more.
    approval_tick(0, Review(in_review), batch=200)
    assert len(_compile_requests(in_review)) == 1


def test_approvals_read_in_one_tick_request_one_compile(in_review: Database) -> None:
    for section in SECTIONS:
        _decide(in_review, section, "approved")
    approval_tick(0, Review(in_review), batch=200)
    assert [r["requested_by"] for r in _compile_requests(in_review)] == ["approval"]


def test_an_approval_of_a_rejected_section_waits_for_its_new_take(in_review: Database) -> None:
    _decide(in_review, "hook", "rejected")
    requests, cursor = approval_tick(0, Review(in_review), batch=200)
    assert len(requests) == 1
    # Take 2 has no clip yet: nothing to approve.
    for section in ("offer", "close"):
        _decide(in_review, section, "approved")
    requests, cursor = approval_tick(cursor, Review(in_review), batch=200)
    assert requests == []
    assert _compile_requests(in_review) == []
    record_clip(in_review, "hook", take=2)
    _decide(in_review, "hook", "approved")
    approval_tick(cursor, Review(in_review), batch=200)
    assert [r["status"] for r in _compile_requests(in_review)] == ["requested"]
    with in_review.connect() as conn:
        decisions = approval_rows.latest_decisions(conn, SCRIPT)
    assert decisions[("hook", 1)].decision == "rejected"
    assert decisions[("hook", 2)].decision == "approved"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def test_the_sensor_keeps_the_last_approval_id_as_cursor(
    in_review: Database, instance: dg.DagsterInstance
) -> None:
    resources = {"database": DatabaseResource(url=in_review.url), "pacing": PacingResource()}
    approval_sensor = build_approval_sensor()
    approval_id = _decide(in_review, "close", "rejected", note="too dark")
    result = approval_sensor(
        dg.build_sensor_context(cursor=None, resources=resources, instance=instance)
    )
    assert isinstance(result, dg.SensorResult)
    assert result.cursor == str(approval_id)
    assert [r.run_key for r in result.run_requests or []] == [f"retake:{approval_id}"]
    again = approval_sensor(
        dg.build_sensor_context(cursor=result.cursor, resources=resources, instance=instance)
    )
    assert isinstance(again, dg.SensorResult)
    assert (again.cursor, list(again.run_requests or [])) == (str(approval_id), [])
    assert _section(in_review, "close")["current_take"] == 2
