"""A voiced section's narration decided on its own, against the real tables: the queue, the
decisions and their refusals, the retake it starts, what compile still needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import SectionRow, insert_script, sections_of
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.narration import spoken_text
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, load_script
from vsl_pipelines.services.compilation import NotApproved, request_compile
from vsl_pipelines.services.review import (
    AlreadyDecided,
    Review,
    ReviewError,
    UnknownTake,
    decide,
    decide_take,
    review_queue,
    unapproved_sections,
)
from vsl_pipelines.services.script_state import script_status
from vsl_pipelines.settings import PROJECT_ROOT

NARRATED = PROJECT_ROOT / "config" / "scripts" / "spring-launch-narrated.yaml"
SCRIPT = "spring-launch-narrated"
SECTIONS = ("hook", "offer", "close")


def record_narration(conn: Conn, section: str, take: int = 1) -> int:
    """A stored narration for one take of a section (the rows collection writes); its id."""
    row = take_rows.record_take(
        conn,
        script_id=SCRIPT,
        section_id=section,
        stage="narration",
        take=take,
        job_id=None,
        media_key=f"scripts/{SCRIPT}/{section}/narration-v{take}.wav",
        thumbnail_key=None,
        probe={"kind": "audio"},
        duration_s=3.25,
    )
    return row.id


@pytest.fixture
def narrated(db: Database, registry: Registry) -> Script:
    script = load_script(NARRATED, registry)
    with db.connect() as conn:
        insert_script(conn, script, str(NARRATED), default_workspace_id(conn))
    return script


@pytest.fixture
def conn(db: Database, narrated: Script) -> Iterator[Conn]:
    with db.connect() as conn:
        yield conn


def approvals(conn: Conn) -> int:
    return int(conn.execute("SELECT count(*) AS n FROM approvals").fetchone()["n"])


def section(conn: Conn, section_id: str) -> SectionRow:
    return {s.id: s for s in sections_of(conn, SCRIPT)}[section_id]


def test_the_queue_lists_clips_and_narrations_by_subject(conn: Conn) -> None:
    record_clip(conn, "hook", script_id=SCRIPT)
    record_narration(conn, "hook")
    record_narration(conn, "offer")
    queue = review_queue(conn, SCRIPT)
    assert [(q["section"], q["subject"], q["take"]) for q in queue] == [
        ("hook", "clip", 1),
        ("hook", "narration", 1),
        ("offer", "narration", 1),
    ]
    clip, narration = queue[0], queue[1]
    assert clip["media"] == clip["clip"] == f"scripts/{SCRIPT}/hook/clip-v1.mp4"
    assert narration["media"] == f"scripts/{SCRIPT}/hook/narration-v1.wav"
    assert narration["duration_s"] == 3.25 and "clip" not in narration
    assert narration["spoken_text"] == narration["narration"]
    assert narration["narration"].startswith("Tired of deciding")

    decide(conn, SCRIPT, "hook", "approved", subject="narration")
    assert [(q["section"], q["subject"]) for q in review_queue(conn, SCRIPT)] == [
        ("hook", "clip"),
        ("offer", "narration"),
    ]
    decide(conn, SCRIPT, "hook", "approved")
    assert [(q["section"], q["subject"]) for q in review_queue(conn, SCRIPT)] == [
        ("offer", "narration")
    ]


def test_one_decision_per_take_of_each_subject(conn: Conn) -> None:
    record_clip(conn, "hook", script_id=SCRIPT)
    record_narration(conn, "hook")
    clip = decide(conn, SCRIPT, "hook", "approved")
    narration = decide(conn, SCRIPT, "hook", "rejected", subject="narration", note="too fast")
    assert (clip.subject, narration.subject) == ("clip", "narration")
    assert clip.take == narration.take == 1
    with pytest.raises(
        AlreadyDecided, match=r"narration take 1 of spring-launch-narrated/hook is already rejected"
    ):
        decide(conn, SCRIPT, "hook", "approved", subject="narration")
    with pytest.raises(AlreadyDecided, match=r"take 1 of spring-launch-narrated/hook is already"):
        decide(conn, SCRIPT, "hook", "rejected")
    assert approvals(conn) == 2


def test_a_narration_rejection_starts_only_a_new_narration_take(
    conn: Conn, db: Database, registry: Registry
) -> None:
    record_clip(conn, "hook", script_id=SCRIPT)
    record_narration(conn, "hook")
    row = decide(
        conn,
        SCRIPT,
        "hook",
        "rejected",
        subject="narration",
        text="Tired of choosing dinner every night?",
        params={"speed": 1.2, "voice": "af_sarah"},
        registry=registry,
    )
    assert row.params == {"speed": 1.2, "voice": "af_sarah"}
    assert row.text == "Tired of choosing dinner every night?"
    conn.commit()
    decisions = Review(db).act_after(0, 10)
    [retake] = decisions.retakes
    assert (retake.section_id, retake.subject, retake.take) == ("hook", "narration", 2)
    assert retake.stages == ("narration",)
    hook = section(conn, "hook")
    assert (hook.current_take, hook.narration_take) == (1, 2), "the clip's take stays"
    assert hook.narration_overrides == {
        "text": "Tired of choosing dinner every night?",
        "params": {"speed": 1.2, "voice": "af_sarah"},
    }
    assert hook.overrides == {}
    written = next(s for s in load_script(NARRATED, registry).sections if s.id == "hook")
    assert spoken_text(hook, written) == "Tired of choosing dinner every night?"
    # The clip of take 1 is still the one under review; the old narration take is not.
    assert [(q["subject"], q["take"]) for q in review_queue(conn, SCRIPT)] == [("clip", 1)]
    with pytest.raises(AlreadyDecided, match="no longer under review"):
        decide(conn, SCRIPT, "hook", "approved", subject="narration", take=1)
    with pytest.raises(ReviewError, match="no narration for take 2 yet"):
        decide(conn, SCRIPT, "hook", "approved", subject="narration")

    # A later correction keeps the earlier ones it does not change.
    record_narration(conn, "hook", take=2)
    decide(conn, SCRIPT, "hook", "rejected", subject="narration", params={"speed": 0.9})
    conn.commit()
    [again] = Review(db).act_after(decisions.cursor, 10).retakes
    assert again.take == 3
    assert section(conn, "hook").narration_overrides == {
        "text": "Tired of choosing dinner every night?",
        "params": {"speed": 0.9, "voice": "af_sarah"},
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"params": {"speed": 9}},
            r"params\.speed: model 'kokoro-82m': parameter 'speed'=9 is above",
        ),
        ({"params": {"voice": "robot"}}, r"params\.voice: .*'robot' is not one of"),
        ({"params": {"pitch": 2}}, r"params\.pitch: model 'kokoro-82m' does not support"),
        ({"params": {"text": "other"}}, r"params\.text: 'text' comes from the section's narration"),
        ({"text": "   "}, r"text: the corrected narration must be non-empty"),
        ({"text": "a\x00b"}, r"text: contains the control character U\+0000"),
        ({"prompt": "brighter"}, r"prompt and seed shape a clip's next take"),
        ({"seed": 3}, r"prompt and seed shape a clip's next take"),
    ],
)
def test_a_bad_narration_rejection_is_refused_and_nothing_stored(
    conn: Conn, fields: dict, message: str
) -> None:
    record_narration(conn, "hook")
    with pytest.raises(ReviewError, match=message):
        decide(conn, SCRIPT, "hook", "rejected", subject="narration", **fields)
    assert approvals(conn) == 0
    assert section(conn, "hook").narration_take == 1


def test_fields_of_another_subject_or_decision_are_refused(conn: Conn) -> None:
    record_clip(conn, "hook", script_id=SCRIPT)
    record_narration(conn, "hook")
    with pytest.raises(ReviewError, match=r"text and params belong to a narration rejection"):
        decide(conn, SCRIPT, "hook", "rejected", params={"speed": 1.1})
    with pytest.raises(ReviewError, match=r"text and params belong to a narration rejection"):
        decide(conn, SCRIPT, "hook", "rejected", text="other words")
    with pytest.raises(ReviewError, match=r"belong to a narration rejection"):
        decide(conn, SCRIPT, "hook", "approved", subject="narration", text="other words")
    with pytest.raises(ReviewError, match=r"subject must be clip or narration, not 'voice'"):
        decide(conn, SCRIPT, "hook", "approved", subject="voice")
    assert approvals(conn) == 0


def test_a_section_without_a_voice_has_no_narration_to_decide(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        record_clip(conn, "hook")
        with pytest.raises(ReviewError, match=r"spring-launch/hook has no voice"):
            decide(conn, "spring-launch", "hook", "approved", subject="narration")
        assert unapproved_sections(conn, "spring-launch") == ["hook", "offer", "close"]
        assert approvals(conn) == 0


def test_a_narration_take_id_is_decided_as_a_narration(conn: Conn) -> None:
    take_id = record_narration(conn, "close")
    with pytest.raises(ReviewError, match=r"take \d+ is a narration take, not a clip take"):
        decide_take(conn, take_id, "approved", subject="clip")
    row = decide_take(conn, take_id, "rejected", params={"speed": 1.3})
    assert (row.section_id, row.subject, row.take) == ("close", "narration", 1)
    with pytest.raises(UnknownTake):
        decide_take(conn, 10**9, "approved")


def test_compile_needs_every_clip_and_narration_approved(conn: Conn) -> None:
    for section_id in SECTIONS:
        record_clip(conn, section_id, script_id=SCRIPT)
        record_narration(conn, section_id)
        decide(conn, SCRIPT, section_id, "approved")
    assert unapproved_sections(conn, SCRIPT) == [
        "hook (narration)",
        "offer (narration)",
        "close (narration)",
    ]
    decide(conn, SCRIPT, "hook", "approved", subject="narration")
    decide(conn, SCRIPT, "offer", "approved", subject="narration")
    with pytest.raises(NotApproved, match=r"close \(narration\)"):
        request_compile(conn, SCRIPT)
    shown = {s["section"]: s for s in script_status(conn, SCRIPT)["sections"]}
    assert (shown["hook"]["narration_take"], shown["hook"]["narration_decision"]) == (1, "approved")
    assert (shown["close"]["narration_take"], shown["close"]["narration_decision"]) == (1, None)
    assert shown["close"]["decision"] == "approved"
    decide(conn, SCRIPT, "close", "approved", subject="narration")
    assert unapproved_sections(conn, SCRIPT) == []
    assert request_compile(conn, SCRIPT).status == "requested"


def test_the_status_has_no_narration_take_for_a_section_without_voice(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        shown = script_status(conn, "spring-launch")["sections"]
    assert {(s["narration_take"], s["narration_decision"]) for s in shown} == {(None, None)}


def test_only_voiced_sections_need_a_narration_approval(
    db: Database, sample_script: Script
) -> None:
    """A voice of its own on one section of a script without one: that section alone has a
    narration to approve."""
    document = sample_script.model_dump(mode="json")
    document["id"] = "one-voice"
    document["sections"][1]["voice"] = {"model": "kokoro-82m", "params": {"voice": "am_adam"}}
    with db.connect() as conn:
        insert_script(conn, Script.model_validate(document), None, default_workspace_id(conn))
        for section_id in SECTIONS:
            record_clip(conn, section_id, script_id="one-voice")
            decide(conn, "one-voice", section_id, "approved")
        assert unapproved_sections(conn, "one-voice") == ["offer (narration)"]
        with pytest.raises(ReviewError, match="one-voice/hook has no voice"):
            decide(conn, "one-voice", "hook", "approved", subject="narration")
