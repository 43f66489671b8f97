"""The review service's parts for reviewing fast (issue 23), against the real tables: a section's
takes approved together or not at all, a retake's estimate from the registry, and a script that
waits for a person's "Compile" instead of compiling on its last approval."""

from __future__ import annotations

import pytest

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import sections_of
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import (
    AlreadyDecided,
    Review,
    ReviewError,
    approve_section,
    awaiting_compile,
    decide,
    retake_estimate,
    set_compile_on_approval,
)

SCRIPT = "spring-launch"


def compilations(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute("SELECT count(*) AS n FROM compilations").fetchone()["n"])


def test_approving_nothing_or_a_stale_take_approves_nothing(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        record_clip(conn, "hook")
        with pytest.raises(ReviewError, match="nothing to approve"):
            approve_section(conn, SCRIPT, "hook", {})
        with pytest.raises(AlreadyDecided, match="take 2 of spring-launch/hook is no longer"):
            approve_section(conn, SCRIPT, "hook", {"clip": 2})
        [row] = approve_section(conn, SCRIPT, "hook", {"clip": 1}, note="ok", reviewer="ada")
        assert (row.subject, row.take, row.note, row.reviewer) == ("clip", 1, "ok", "ada")


def test_a_retake_is_priced_from_the_registry_or_not_at_all(
    db: Database, stored_script: Script, registry: Registry
) -> None:
    with db.connect() as conn:
        rows = {r.id: r for r in sections_of(conn, SCRIPT)}
    hook = stored_script.section("hook")
    assert hook.keyframe is not None and hook.clip is not None
    keyframe, clip = registry.get(hook.keyframe.model), registry.get(hook.clip.model)
    estimate = retake_estimate(stored_script, registry, rows["hook"], "clip")
    assert estimate is not None
    assert estimate.usd == pytest.approx(keyframe.estimate_cost({}) + clip.estimate_cost({}))
    assert estimate.seconds == keyframe.estimated_time + clip.estimated_time
    assert retake_estimate(stored_script, registry, rows["hook"], "narration") is None, "unvoiced"
    without = Registry(models={k: v for k, v in registry.models.items() if k != clip.id})
    assert retake_estimate(stored_script, without, rows["hook"], "clip") is None


def test_a_script_waiting_for_a_person_gets_no_compile_on_its_last_approval(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        workspace = default_workspace_id(conn)
        set_compile_on_approval(conn, SCRIPT, False, "ada")
        for section in ("hook", "offer", "close"):
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
        audit = conn.execute("SELECT actor, action FROM audit_log").fetchall()
        assert {"actor": "ada", "action": "review.compile_on_approval"} in audit
    decisions = Review(db).act_after(0, 10)
    assert decisions.awaiting_compile == [SCRIPT] and decisions.ready_to_compile == {}
    assert compilations(db) == 0
    with db.connect() as conn:
        assert [s.id for s in awaiting_compile(conn, workspace)] == [SCRIPT]
        set_compile_on_approval(conn, SCRIPT, True, "ada")
        assert awaiting_compile(conn, workspace) == [], "compiling on approval: nothing waits"
