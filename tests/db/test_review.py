"""What waits for reviewers, counted in one statement, and the scripts' review settings, against
the real tables: the count follows takes stored, decisions and retakes, one workspace at a time;
a setting defaults to compiling on the last approval and goes with its script."""

from __future__ import annotations

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import review as review_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.takes import record_take
from vsl_pipelines.db.workspaces import create_workspace, default_workspace_id
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import apply_rejection, decide, review_queue

SCRIPT = "spring-launch"


def test_the_count_follows_the_takes_waiting(db: Database, stored_script: Script) -> None:
    with db.connect() as conn:
        workspace = default_workspace_id(conn)
        other = create_workspace(conn, "acme", "Acme", None).id
        assert review_rows.waiting_decisions(conn, workspace) == 0
        record_clip(conn, "hook")
        record_clip(conn, "close")
        assert review_rows.waiting_decisions(conn, workspace) == 2
        assert review_rows.waiting_decisions(conn, other) == 0, "another workspace's count"
        decide(conn, SCRIPT, "hook", "approved")
        rejection = decide(conn, SCRIPT, "close", "rejected", note="too dark")
        assert review_rows.waiting_decisions(conn, workspace) == 0, "both decided"
        apply_rejection(conn, rejection)
        assert review_rows.waiting_decisions(conn, workspace) == 0, "its retake is not stored yet"
        record_clip(conn, "close", take=2)
        assert review_rows.waiting_decisions(conn, workspace) == 1
        assert len(review_queue(conn, workspace_id=workspace)) == 1


def test_a_narration_counts_only_where_the_section_has_a_voice(
    db: Database, stored_script: Script
) -> None:
    """A narration take of a section without a voice (one since removed) waits for nothing."""
    with db.connect() as conn:
        record_take(
            conn, script_id=SCRIPT, section_id="hook", stage="narration", take=1, job_id=None,
            media_key="k.wav", thumbnail_key=None, probe={}, duration_s=1.0,
        )  # fmt: skip
        assert review_rows.waiting_decisions(conn, default_workspace_id(conn)) == 0


def test_a_setting_defaults_to_compile_and_goes_with_its_script(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        workspace = default_workspace_id(conn)
        assert review_rows.compile_on_approval(conn, SCRIPT) is True
        assert review_rows.manual_scripts(conn, workspace) == []
        review_rows.set_compile_on_approval(conn, SCRIPT, False, "ada")
        review_rows.set_compile_on_approval(conn, SCRIPT, False, "bob")  # once per script
        assert review_rows.compile_on_approval(conn, SCRIPT) is False
        [manual] = review_rows.manual_scripts(conn, workspace)
        assert (manual.id, manual.decided_at, manual.compile_requested_at) == (SCRIPT, None, None)
        assert review_rows.manual_scripts(conn, workspace, "other") == []
        row = conn.execute("SELECT updated_by FROM review_settings").fetchone()
        assert row["updated_by"] == "bob"
        conn.execute("DELETE FROM scripts WHERE id = %s", (SCRIPT,))
        assert conn.execute("SELECT count(*) AS n FROM review_settings").fetchone()["n"] == 0
