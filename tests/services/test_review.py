"""Reviewing section takes against the real tables: refusals, the review queue, what is unapproved."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db.approvals import decisions_after, latest_decisions
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import ScriptNotFound, start_new_take
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import (
    AlreadyDecided,
    ReviewError,
    decide,
    review_queue,
    unapproved_sections,
)

SCRIPT = "spring-launch"


@pytest.fixture
def conn(db: Database, stored_script: Script) -> Iterator[Conn]:
    with db.connect() as conn:
        yield conn


def approvals(conn: Conn) -> int:
    return int(conn.execute("SELECT count(*) AS n FROM approvals").fetchone()["n"])


def test_an_unknown_script_is_refused(conn: Conn) -> None:
    with pytest.raises(ScriptNotFound, match="no script 'autumn-sale'"):
        decide(conn, "autumn-sale", "hook", "approved")
    assert "vsl scripts list" in str(ScriptNotFound("autumn-sale"))


def test_an_unknown_section_lists_the_sections(conn: Conn) -> None:
    with pytest.raises(ReviewError, match=r"no section 'intro'; sections: hook, offer, close"):
        decide(conn, SCRIPT, "intro", "approved")


def test_a_take_without_a_clip_cannot_be_decided(conn: Conn) -> None:
    with pytest.raises(ReviewError, match=r"no clip for take 1 yet"):
        decide(conn, SCRIPT, "hook", "rejected")
    record_clip(conn, "hook")
    start_new_take(conn, SCRIPT, "hook", {})
    with pytest.raises(ReviewError, match=r"spring-launch/hook has no clip for take 2 yet"):
        decide(conn, SCRIPT, "hook", "approved")
    assert approvals(conn) == 0


def test_approve_refuses_prompt_and_seed(conn: Conn) -> None:
    record_clip(conn, "hook")
    with pytest.raises(ReviewError, match="--prompt and --seed belong to a rejection"):
        decide(conn, SCRIPT, "hook", "approved", prompt="brighter")
    with pytest.raises(ReviewError, match="--prompt and --seed belong to a rejection"):
        decide(conn, SCRIPT, "hook", "approved", seed=3)
    assert approvals(conn) == 0


@pytest.mark.parametrize("seed", [-1, 2**31])
def test_a_seed_out_of_range_is_refused(conn: Conn, seed: int) -> None:
    record_clip(conn, "hook")
    with pytest.raises(ReviewError, match=rf"seed {seed} is out of range"):
        decide(conn, SCRIPT, "hook", "rejected", seed=seed)
    assert approvals(conn) == 0


def test_the_largest_seed_is_accepted(conn: Conn) -> None:
    record_clip(conn, "hook")
    row = decide(conn, SCRIPT, "hook", "rejected", seed=2**31 - 1, prompt="p", note="n")
    assert (row.take, row.seed, row.prompt, row.note) == (1, 2**31 - 1, "p", "n")


def test_an_unknown_decision_is_refused(conn: Conn) -> None:
    record_clip(conn, "hook")
    with pytest.raises(ReviewError, match="approved or rejected, not 'maybe'"):
        decide(conn, SCRIPT, "hook", "maybe")


def test_the_queue_holds_current_takes_with_a_clip_and_no_decision(conn: Conn) -> None:
    assert review_queue(conn) == []
    record_clip(conn, "hook")
    record_clip(conn, "offer")
    queue = review_queue(conn, SCRIPT)
    assert [(q["section"], q["take"]) for q in queue] == [("hook", 1), ("offer", 1)]
    hook = queue[0]
    assert hook["clip"] == f"scripts/{SCRIPT}/hook/clip-v1.mp4"
    assert hook["thumbnail"].endswith("clip-thumb-v1.jpg")
    assert hook["duration_s"] == 2.5 and hook["script"] == SCRIPT
    assert hook["narration"].startswith("Tired of deciding")
    assert review_queue(conn) == queue, "no script filter: every script"

    decide(conn, SCRIPT, "hook", "rejected")
    assert [q["section"] for q in review_queue(conn, SCRIPT)] == ["offer"]
    start_new_take(conn, SCRIPT, "hook", {})
    assert [q["section"] for q in review_queue(conn, SCRIPT)] == ["offer"]
    record_clip(conn, "hook", take=2)
    assert [(q["section"], q["take"]) for q in review_queue(conn, SCRIPT)] == [
        ("hook", 2),
        ("offer", 1),
    ]


def test_unapproved_sections_follow_the_current_takes(conn: Conn) -> None:
    assert unapproved_sections(conn, SCRIPT) == ["hook", "offer", "close"]
    for section in ("hook", "offer", "close"):
        record_clip(conn, section)
    decide(conn, SCRIPT, "hook", "approved")
    decide(conn, SCRIPT, "close", "rejected")
    assert unapproved_sections(conn, SCRIPT) == ["offer", "close"]
    decide(conn, SCRIPT, "offer", "approved")
    start_new_take(conn, SCRIPT, "close", {})  # what the sensor does with the rejection
    assert unapproved_sections(conn, SCRIPT) == ["close"]
    record_clip(conn, "close", take=2)
    decide(conn, SCRIPT, "close", "approved")
    assert unapproved_sections(conn, SCRIPT) == []


def test_a_take_gets_one_decision(conn: Conn) -> None:
    record_clip(conn, "hook")
    decide(conn, SCRIPT, "hook", "approved")
    with pytest.raises(AlreadyDecided, match=r"take 1 of spring-launch/hook is already approved"):
        decide(conn, SCRIPT, "hook", "rejected", prompt="too late")
    assert approvals(conn) == 1
    assert review_queue(conn, SCRIPT) == []
    assert unapproved_sections(conn, SCRIPT) == ["offer", "close"]


def test_a_decision_on_a_take_no_longer_under_review_is_refused(conn: Conn) -> None:
    record_clip(conn, "hook")
    start_new_take(conn, SCRIPT, "hook", {})
    record_clip(conn, "hook", take=2)
    with pytest.raises(AlreadyDecided, match=r"take 1 .* no longer under review .* is 2"):
        decide(conn, SCRIPT, "hook", "approved", take=1)
    assert decide(conn, SCRIPT, "hook", "approved", take=2).take == 2


def test_twenty_concurrent_decisions_have_exactly_one_winner(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        record_clip(conn, "hook")
    barrier = threading.Barrier(20)

    def one(i: int) -> str:
        decision = "approved" if i % 2 else "rejected"
        barrier.wait()
        try:
            with db.connect() as conn:
                decide(conn, SCRIPT, "hook", decision, reviewer=f"r{i}")
            return decision
        except AlreadyDecided:
            return "refused"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(one, range(20)))
    assert outcomes.count("refused") == 19, outcomes
    [winner] = [o for o in outcomes if o != "refused"]
    with db.connect() as conn:
        rows = conn.execute("SELECT decision FROM approvals").fetchall()
        assert [r["decision"] for r in rows] == [winner]
        status = latest_decisions(conn, SCRIPT)[("hook", 1)].decision
        sensor_reads = decisions_after(conn, 0, 100)
    assert status == winner and [d.decision for d in sensor_reads] == [winner]
