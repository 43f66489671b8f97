"""Scripts as documents against real Postgres and the sandbox: every save a version, an edit
regenerates only the sections it changes (their new jobs asserted after the generation run's
submission), duplicates stay in their workspace, the export carries the current takes' prompts
and seeds; and the refusals, nothing written on any."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.fixtures.scripts import NARRATED_SCRIPT, SAMPLE_SCRIPT
from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import script_versions as version_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.audit import entries
from vsl_pipelines.db.compilations import compilations_of, request_compilation
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import ScriptExists, ScriptNotFound
from vsl_pipelines.db.workspaces import create_workspace, default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.domain.script import ScriptError
from vsl_pipelines.generation.stages import take_seed
from vsl_pipelines.services.generation import Submission
from vsl_pipelines.services.intake import add_script
from vsl_pipelines.services.review import set_compile_on_approval, unapproved_sections
from vsl_pipelines.services.script_versions import (
    ScriptBusy,
    VersionConflict,
    duplicate_script,
    editable_document,
    export_document,
    history,
    preview_edit,
    save_edit,
)

SOURCE = "editor"


def _actor(db: Database, name: str = "mia@example.com", workspace: str = "default") -> Actor:
    with db.connect() as conn:
        if workspace == "default":
            workspace_id = default_workspace_id(conn)
        else:
            workspace_id = create_workspace(conn, workspace, workspace.title(), None).id
    return Actor(workspace_id, name, Role.WRITER)


def _store(db: Database, registry: Registry, actor: Actor, path: Any = SAMPLE_SCRIPT) -> str:
    document = yaml.safe_load(path.read_text())
    return add_script(db, document, registry, actor=actor, source="test").script.id


def _approve_current(db: Database, script_id: str) -> None:
    """Every section's current clip (and narration) take approved, as a reviewer would."""
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        for row in script_rows.sections_of(conn, script_id):
            approval_rows.append_decision(
                conn, script_id=script_id, section_id=row.id, take=row.current_take,
                decision="approved", reviewer="rita",
            )  # fmt: skip
            if script.voice_of(script.section(row.id)) is not None:
                approval_rows.append_decision(
                    conn, script_id=script_id, section_id=row.id, take=row.narration_take,
                    decision="approved", reviewer="rita", subject="narration",
                )  # fmt: skip


def _takes(db: Database, script_id: str) -> dict[str, tuple[int, int]]:
    with db.connect() as conn:
        return {
            r.id: (r.current_take, r.narration_take)
            for r in script_rows.sections_of(conn, script_id)
        }


def _status(db: Database, script_id: str) -> str:
    with db.connect() as conn:
        return script_rows.script_row(conn, script_id).status


def _submitted(submission: Submission, script_id: str, stage: str) -> list[tuple[str, int]]:
    return sorted((p["section"], p["take"]) for p in submission.submit(script_id, stage).submitted)


def _edit(db: Database, registry: Registry, actor: Actor, script_id: str, document: Any) -> Any:
    with db.connect() as conn:
        base = version_rows.latest_version(conn, script_id)
    return save_edit(
        db, script_id, document, registry, actor=actor, base_version=base, source=SOURCE
    )


def test_every_save_is_a_version_with_its_author(db: Database, registry: Registry) -> None:
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    document, version = editable_document(db, script_id, actor=mia)
    assert version == 1
    document["title"] = "Spring launch, take two"
    document["output"]["captions"] = True
    saved = _edit(
        db, registry, Actor(mia.workspace_id, "sam@example.com", Role.WRITER), script_id, document
    )
    assert saved.version == 2 and not saved.plan.regenerates and saved.plan.cost_usd == 0
    assert _status(db, script_id) == "queued"  # never generated: as it was
    versions = history(db, script_id, actor=mia)
    assert [(v.version, v.saved_by) for v in versions] == [
        (2, "sam@example.com"),
        (1, "mia@example.com"),
    ]
    assert versions[0].document["title"] == "Spring launch, take two"
    assert versions[1].document["title"] == "Spring launch: the 10-minute meal planner"
    assert versions[0].changes["regenerated"] == {} and versions[0].changes["from_version"] == 1
    with db.connect() as conn:
        assert script_rows.script_row(conn, script_id).title == "Spring launch, take two"
        logged = [e for e in entries(conn, mia.workspace_id) if e.action == "script.edited"]
    assert logged[0].actor == "sam@example.com" and logged[0].detail["version"] == 2


def test_an_edit_regenerates_only_the_section_it_changes(
    db: Database, registry: Registry, submission: Submission
) -> None:
    """Generated and approved, then the hook's prompt edited: the hook alone gets a new take
    and, at the next generation run, the only new job; the other sections keep their takes and
    approvals, and the estimate is what that one take costs."""
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    assert len(_submitted(submission, script_id, "keyframe")) == 3
    assert _submitted(submission, script_id, "soundtrack") == [("", 1)]
    _approve_current(db, script_id)
    with db.connect() as conn:
        assert unapproved_sections(conn, script_id) == []
    document, _ = editable_document(db, script_id, actor=mia)
    document["sections"][0]["keyframe"]["prompt"] = "a parent smiling at a full fridge"

    with db.connect() as conn:
        base = version_rows.latest_version(conn, script_id)
    plan = preview_edit(
        db, script_id, document, registry, actor=mia, base_version=base, source=SOURCE
    )
    assert [(c.section_id, c.stages) for c in plan.changes] == [("hook", ("keyframe", "clip"))]
    flux = registry.get("flux-schnell").estimate_cost({})
    video = registry.get("stability-video").estimate_cost({})
    assert plan.cost_usd == pytest.approx(flux + video)
    assert plan.kept == ("offer", "close") and plan.soundtrack_cost_usd is None
    assert _takes(db, script_id) == {"hook": (1, 1), "offer": (1, 1), "close": (1, 1)}  # a preview

    saved = _edit(db, registry, mia, script_id, document)
    assert saved.version == 2
    assert _takes(db, script_id) == {"hook": (2, 1), "offer": (1, 1), "close": (1, 1)}
    assert _status(db, script_id) == "queued"
    with db.connect() as conn:
        assert unapproved_sections(conn, script_id) == ["hook"]
        sections = script_rows.sections_of(conn, script_id)
    assert sections[0].overrides == {}
    # The generation run the schedule starts: only the hook's new take is submitted.
    assert _submitted(submission, script_id, "keyframe") == [("hook", 2)]
    assert _submitted(submission, script_id, "soundtrack") == []
    with db.connect() as conn:
        hook = [j for j in job_rows.all_jobs(conn, script_id) if j.take == 2]
    assert [(j.section_id, j.stage) for j in hook] == [("hook", "keyframe")]
    assert hook[0].input["prompt"] == "a parent smiling at a full fridge"
    assert _status(db, script_id) == "generating"


def test_a_changed_soundtrack_regenerates_only_the_soundtrack(
    db: Database, registry: Registry, submission: Submission
) -> None:
    """Generated and approved, then the soundtrack's prompt edited: its next take is the only
    new job (with a seed of its own), every section keeps its takes and approvals, and the
    export pins the new take's seed."""
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    assert len(_submitted(submission, script_id, "keyframe")) == 3
    assert _submitted(submission, script_id, "soundtrack") == [("", 1)]
    _approve_current(db, script_id)
    document, _ = editable_document(db, script_id, actor=mia)
    document["soundtrack"]["prompt"] = "dark cinematic drums"
    saved = _edit(db, registry, mia, script_id, document)
    plan = saved.plan
    assert plan.changes == () and plan.soundtrack_cost_usd is not None and plan.regenerates
    assert plan.cost_usd == pytest.approx(plan.soundtrack_cost_usd)
    assert _takes(db, script_id) == {"hook": (1, 1), "offer": (1, 1), "close": (1, 1)}
    assert _status(db, script_id) == "queued"
    with db.connect() as conn:
        assert unapproved_sections(conn, script_id) == []
    for stage in ("keyframe", "clip", "narration"):
        assert _submitted(submission, script_id, stage) == [], stage
    assert _submitted(submission, script_id, "soundtrack") == [("", 2)]
    with db.connect() as conn:
        [first, second] = sorted(
            job_rows.latest_jobs(conn, script_id, "soundtrack"), key=lambda j: j.take
        )
    assert second.input["prompt"] == "dark cinematic drums"
    assert second.input["seed"] != first.input["seed"]
    exported = export_document(db, script_id, actor=mia)
    assert exported["soundtrack"]["params"]["seed"] == second.input["seed"]
    again, _ = editable_document(db, script_id, actor=mia)
    again["soundtrack"]["prompt"] = "soft piano"  # a third: take 3
    _edit(db, registry, mia, script_id, again)
    assert _submitted(submission, script_id, "soundtrack") == [("", 3)]


def _close_removed_with_the_rest_approved(
    db: Database, registry: Registry, submission: Submission, *, waits: bool
) -> tuple[Any, list[Any]]:
    """The sample generated, every section approved but the close, then the close removed in
    the editor: the save and the script's compilations."""
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    if waits:
        with db.connect() as conn:
            set_compile_on_approval(conn, script_id, False, "rita")
    assert len(_submitted(submission, script_id, "keyframe")) == 3
    with db.connect() as conn:
        for row in script_rows.sections_of(conn, script_id):
            if row.id != "close":
                approval_rows.append_decision(
                    conn, script_id=script_id, section_id=row.id, take=1,
                    decision="approved", reviewer="rita",
                )  # fmt: skip
        assert unapproved_sections(conn, script_id) == ["close"]
    document, _ = editable_document(db, script_id, actor=mia)
    document["sections"] = [s for s in document["sections"] if s["id"] != "close"]
    saved = _edit(db, registry, mia, script_id, document)
    assert saved.plan.removed == ("close",) and not saved.plan.regenerates
    with db.connect() as conn:
        return saved, compilations_of(conn, script_id)


def test_removing_the_last_section_waiting_asks_for_the_compile(
    db: Database, registry: Registry, submission: Submission
) -> None:
    """Removing the one section left to decide asks for the compile as the last approval
    would, once, in the editor's name."""
    saved, compiles = _close_removed_with_the_rest_approved(db, registry, submission, waits=False)
    assert saved.compile_requested
    assert [(c.status, c.requested_by) for c in compiles] == [("requested", "mia@example.com")]


def test_removing_the_last_section_waiting_of_a_script_compiled_by_hand_waits(
    db: Database, registry: Registry, submission: Submission
) -> None:
    saved, compiles = _close_removed_with_the_rest_approved(db, registry, submission, waits=True)
    assert not saved.compile_requested and compiles == []


def test_removing_a_section_while_another_waits_asks_for_nothing(
    db: Database, registry: Registry, submission: Submission
) -> None:
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    assert len(_submitted(submission, script_id, "keyframe")) == 3
    document, _ = editable_document(db, script_id, actor=mia)
    document["sections"] = document["sections"][:2]
    saved = _edit(db, registry, mia, script_id, document)
    assert saved.plan.removed == ("close",) and not saved.compile_requested
    with db.connect() as conn:
        assert compilations_of(conn, script_id) == []


def test_a_changed_voice_regenerates_only_narrations(
    db: Database, registry: Registry, submission: Submission
) -> None:
    """The narrated script: a section's words changed speak that section again (its picture
    kept); the script's voice changed speaks every section it voices again, not the one with
    its own voice; a reviewer's corrected words survive a voice change."""
    mia = _actor(db)
    script_id = _store(db, registry, mia, NARRATED_SCRIPT)
    assert len(_submitted(submission, script_id, "narration")) == 3
    document, _ = editable_document(db, script_id, actor=mia)
    document["sections"][1]["narration"] = "Meet Planwise: dinners planned in minutes."
    plan = _edit(db, registry, mia, script_id, document).plan
    assert [(c.section_id, c.picture, c.narration) for c in plan.changes] == [
        ("offer", False, True)
    ]
    assert plan.cost_usd == pytest.approx(plan.changes[0].cost_usd) and plan.cost_usd > 0
    assert _takes(db, script_id) == {"hook": (1, 1), "offer": (1, 2), "close": (1, 1)}
    assert _submitted(submission, script_id, "narration") == [("offer", 2)]

    with db.connect() as conn:  # a reviewer corrected the hook's spoken words
        script_rows.start_new_narration_take(conn, script_id, "hook", {"text": "Tired of cooking?"})
    document, _ = editable_document(db, script_id, actor=mia)
    document["voice"]["params"]["speed"] = 0.9
    plan = _edit(db, registry, mia, script_id, document).plan
    assert sorted(c.section_id for c in plan.changes) == ["hook", "offer"]
    assert all(c.stages == ("narration",) for c in plan.changes)
    assert _takes(db, script_id) == {"hook": (1, 3), "offer": (1, 3), "close": (1, 1)}
    with db.connect() as conn:
        rows = {r.id: r for r in script_rows.sections_of(conn, script_id)}
    assert rows["hook"].narration_overrides == {"text": "Tired of cooking?"}
    assert rows["offer"].narration_overrides == {}


def test_sections_added_removed_and_moved(
    db: Database, registry: Registry, submission: Submission
) -> None:
    """A new section gets its first take; a removed one leaves the script; a moved one keeps
    its takes; an id used before starts after its old takes, never finding their media."""
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    _submitted(submission, script_id, "keyframe")
    document, _ = editable_document(db, script_id, actor=mia)
    offer = document["sections"].pop(1)
    document["sections"].insert(0, document["sections"].pop(1))  # close first
    document["sections"].append(
        {
            "id": "bonus",
            "narration": "One more thing.",
            "keyframe": {"model": "flux-schnell", "prompt": "a gift box"},
            "still": {"duration_s": 2},
        }
    )
    plan = _edit(db, registry, mia, script_id, document).plan
    assert [(c.section_id, c.added) for c in plan.changes] == [("bonus", True)]
    assert plan.removed == ("offer",)
    with db.connect() as conn:
        rows = script_rows.sections_of(conn, script_id)
        stored = script_rows.load_stored_script(conn, script_id)
    assert [(r.id, r.position, r.current_take) for r in rows] == [
        ("close", 0, 1),
        ("hook", 1, 1),
        ("bonus", 2, 1),
    ]
    assert [s.id for s in stored.sections] == ["close", "hook", "bonus"]
    assert _submitted(submission, script_id, "keyframe") == [("bonus", 1)]

    document, _ = editable_document(db, script_id, actor=mia)
    document["sections"].append(offer)  # back again, under its old id
    plan = _edit(db, registry, mia, script_id, document).plan
    assert [(c.section_id, c.added) for c in plan.changes] == [("offer", True)]
    assert _takes(db, script_id)["offer"] == (2, 1)
    assert _submitted(submission, script_id, "keyframe") == [("offer", 2)]


def test_refused_edits_write_nothing(
    db: Database, registry: Registry, submission: Submission
) -> None:
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    _submitted(submission, script_id, "soundtrack")
    good, _ = editable_document(db, script_id, actor=mia)

    def refused(change: Any) -> ScriptError:
        document = copy.deepcopy(good)
        change(document)
        with pytest.raises(ScriptError) as caught:
            _edit(db, registry, mia, script_id, document)
        return caught.value

    def fields(error: ScriptError) -> list[tuple[str | int, ...]]:
        return [path for path, _ in error.problems]

    assert fields(refused(lambda d: d.update(id="another-id"))) == [("id",)]
    empty = refused(lambda d: d["sections"][0].update(narration=""))
    assert fields(empty) == [("sections", 0, "narration")]
    seed = refused(lambda d: d["sections"][0]["keyframe"].update(params={"seed": "lucky"}))
    assert fields(seed) == [("sections", 0, "keyframe", "params", "seed")]
    sound = refused(lambda d: d["soundtrack"].update(model="no-such-model"))
    assert fields(sound) == [("soundtrack",)] and "no-such-model" in str(sound)

    with db.connect() as conn:  # earlier retakes spent most of the $1.50 budget
        job_rows.reserve_job(
            conn, script_id=script_id, section_id="hook", stage="clip", take=9,
            model_id="stability-video", model_input={}, estimated_cost_usd=1.4,
            pricing={"basis": "run", "usd": 1.4},
        )  # fmt: skip
    budget = refused(lambda d: d["sections"][0]["keyframe"].update(prompt="a new hook"))
    assert fields(budget) == [("budget_usd",)] and "has spent $1.463" in str(budget)

    with pytest.raises(VersionConflict):
        save_edit(db, script_id, good, registry, actor=mia, base_version=7, source=SOURCE)
    other = _actor(db, "eve@example.com", "other")
    with pytest.raises(ScriptNotFound):
        save_edit(db, script_id, good, registry, actor=other, base_version=1, source=SOURCE)
    with db.connect() as conn:
        request_compilation(
            conn, script_id, output_format="mp4", quality="standard", options={},
            requested_by="test",
        )  # fmt: skip
    with pytest.raises(ScriptBusy):
        _edit(db, registry, mia, script_id, good)
    assert [v.version for v in history(db, script_id, actor=mia)] == [1]
    assert _takes(db, script_id) == {"hook": (1, 1), "offer": (1, 1), "close": (1, 1)}


def test_two_saves_from_one_version_keep_only_the_first(db: Database, registry: Registry) -> None:
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    first, _ = editable_document(db, script_id, actor=mia)
    second = copy.deepcopy(first)
    first["title"] = "Mine"
    second["title"] = "Theirs"
    save_edit(db, script_id, first, registry, actor=mia, base_version=1, source=SOURCE)
    with pytest.raises(VersionConflict, match="version 2 .* was saved by mia@example.com"):
        save_edit(db, script_id, second, registry, actor=mia, base_version=1, source=SOURCE)
    with db.connect() as conn:
        assert script_rows.script_row(conn, script_id).title == "Mine"


def test_export_carries_the_retake_s_prompt_and_seeds(
    db: Database, registry: Registry, submission: Submission
) -> None:
    """Take 1 of the hook rejected with a new prompt, take 2 made: the export has take 2's
    prompt and the seeds each current take was sent with, so an import makes them again."""
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    _submitted(submission, script_id, "keyframe")
    with db.connect() as conn:
        script_rows.start_new_take(conn, script_id, "hook", {"prompt": "a calm kitchen at dawn"})
    assert _submitted(submission, script_id, "keyframe") == [("hook", 2)]
    exported = export_document(db, script_id, actor=mia)
    hook, offer = exported["sections"][0], exported["sections"][1]
    assert hook["keyframe"]["prompt"] == "a calm kitchen at dawn"
    with db.connect() as conn:
        sent = {(j.section_id, j.take): j.input for j in job_rows.latest_jobs(conn, script_id)}
    assert hook["keyframe"]["params"]["seed"] == sent[("hook", 2)]["seed"]
    assert hook["keyframe"]["params"]["seed"] == take_seed(script_id, "hook", "keyframe", 2)
    assert offer["keyframe"]["params"]["seed"] == sent[("offer", 1)]["seed"]
    assert "seed" not in hook["clip"].get("params", {})  # no clip made yet: nothing to pin
    # The editor starts from the retake's prompt, without pinning seeds.
    editable, _ = editable_document(db, script_id, actor=mia)
    assert editable["sections"][0]["keyframe"]["prompt"] == "a calm kitchen at dawn"
    assert "seed" not in editable["sections"][0]["keyframe"].get("params", {})
    # Nothing changed in the editor: nothing regenerates, the retake's prompt stays.
    plan = _edit(db, registry, mia, script_id, editable).plan
    assert not plan.regenerates and _takes(db, script_id)["hook"] == (2, 1)


def test_a_duplicate_is_a_new_script_of_the_same_workspace(
    db: Database, registry: Registry, submission: Submission
) -> None:
    mia = _actor(db)
    script_id = _store(db, registry, mia)
    _submitted(submission, script_id, "keyframe")
    with db.connect() as conn:
        script_rows.start_new_take(conn, script_id, "close", {"prompt": "a family toast"})
    _submitted(submission, script_id, "keyframe")
    added = duplicate_script(
        db, script_id, "autumn-launch", registry, actor=mia, title="Autumn", source="duplicate"
    )
    copy_id = added.script.id
    assert copy_id == "autumn-launch" and added.script.title == "Autumn"
    close = added.script.section("close")
    assert close.keyframe is not None and close.keyframe.prompt == "a family toast"
    assert close.keyframe.params["seed"] == take_seed(script_id, "close", "keyframe", 2)
    assert _status(db, copy_id) == "queued"
    assert _takes(db, copy_id) == {"hook": (1, 1), "offer": (1, 1), "close": (1, 1)}
    with db.connect() as conn:
        assert job_rows.all_jobs(conn, copy_id) == []  # nothing generated until it is started
        assert script_rows.script_workspace(conn, copy_id) == mia.workspace_id
    [first] = history(db, copy_id, actor=mia)
    assert first.changes["duplicated_from"] == script_id and first.changes["from_version"] == 1
    # Its generation run makes the copied takes with the copied seeds.
    assert len(_submitted(submission, copy_id, "keyframe")) == 3
    with db.connect() as conn:
        copied = {j.section_id: j.input for j in job_rows.all_jobs(conn, copy_id)}
    assert copied["close"]["seed"] == close.keyframe.params["seed"]

    with pytest.raises(ScriptExists):
        duplicate_script(db, script_id, copy_id, registry, actor=mia, source="duplicate")
    with pytest.raises(ScriptError):
        duplicate_script(db, script_id, "Not An Id", registry, actor=mia, source="duplicate")
    other = _actor(db, "eve@example.com", "other")
    with pytest.raises(ScriptNotFound):
        duplicate_script(db, script_id, "stolen", registry, actor=other, source="duplicate")
    with pytest.raises(ScriptNotFound):
        export_document(db, script_id, actor=other)
    with pytest.raises(ScriptNotFound):
        history(db, script_id, actor=other)
