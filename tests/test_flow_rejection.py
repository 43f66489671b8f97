"""The flow through Dagster when a reviewer rejects a take, and when a prediction fails."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import av
import dagster as dg
import pytest

from tests.fixtures.flow import Flow
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.generation.assets import NO_FAILED
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, load_script
from vsl_pipelines.services.compilation import NotApproved, request_compile
from vsl_pipelines.services.review import decide, review_queue
from vsl_pipelines.services.script_state import NotFailed, retry_script, script_status
from vsl_pipelines.settings import PROJECT_ROOT

SCRIPT = "spring-launch"


def start(flow: Flow) -> None:
    flow.tick("script_partitions_sensor")
    assert flow.launch(flow.schedule(), default_job="generate") == 1


def video_end(path: str) -> float:
    """Decode every video frame; the end time of the last one."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        end = 0.0
        for frame in container.decode(stream):
            assert frame.pts is not None
            duration = float(frame.duration * frame.time_base) if frame.duration else 0.0
            end = max(end, float(frame.pts * frame.time_base) + duration)
    return end


def hook_has_second_clip(flow: Flow) -> bool:
    with flow.db.connect() as conn:
        clip = take_rows.take_of(conn, SCRIPT, "hook", "clip", 2)
    return clip is not None and flow.status(SCRIPT) == "review"


def test_a_rejected_take_is_generated_again_and_compiled(flow: Flow, stored_script: Script) -> None:
    start(flow)
    flow.drive(lambda: flow.status(SCRIPT) == "review")
    with flow.db.connect() as conn:
        first_takes = take_rows.takes_of(conn, SCRIPT)
        decide(conn, SCRIPT, "hook", "rejected", prompt="a new prompt", seed=7, reviewer="test")
    first_keys = [t.media_key for t in first_takes] + [
        t.thumbnail_key for t in first_takes if t.thumbnail_key
    ]
    assert any(k.endswith("hook/clip-v1.mp4") for k in first_keys)

    flow.drive(lambda: hook_has_second_clip(flow))
    with flow.db.connect() as conn:
        hook_jobs = [j for j in job_rows.all_jobs(conn, SCRIPT) if j.section_id == "hook"]
        queue = review_queue(conn, SCRIPT)
        take_two = take_rows.take_of(conn, SCRIPT, "hook", "clip", 2)
    [keyframe] = [j for j in hook_jobs if j.stage == "keyframe" and j.take == 2]
    assert keyframe.input["prompt"] == "a new prompt"
    assert keyframe.input["seed"] == 7
    [clip] = [j for j in hook_jobs if j.stage == "clip" and j.take == 2]
    assert clip.status == "succeeded" and clip.input["seed"] == 7
    assert clip.input["input_image"].endswith("hook/keyframe-v2.png")
    assert len(hook_jobs) == 4, "take 1 and take 2, a keyframe and a clip each"
    assert take_two is not None and take_two.media_key.endswith("hook/clip-v2.mp4")
    for key in first_keys:
        assert flow.store.exists(key), f"{key} of take 1 was lost"
    assert [(q["section"], q["take"]) for q in queue] == [("hook", 2), ("offer", 1), ("close", 1)]

    with flow.db.connect() as conn:
        for item in queue:
            decide(conn, SCRIPT, item["section"], "approved", reviewer="test")
    flow.drive(lambda: flow.status(SCRIPT) == "compiled")

    with flow.db.connect() as conn:
        current = {
            s["id"]: s["current_take"]
            for s in conn.execute(
                "SELECT id, current_take FROM sections WHERE script_id = %s", (SCRIPT,)
            ).fetchall()
        }
        clips = [take_rows.take_of(conn, SCRIPT, s, "clip", t) for s, t in current.items()]
        compilation = conn.execute(
            "SELECT * FROM compilations WHERE status = 'succeeded' ORDER BY id DESC"
        ).fetchone()
    assert current == {"hook": 2, "offer": 1, "close": 1}
    expected = sum(float(c.duration_s or 0) for c in clips if c is not None)
    assert len(clips) == 3 and expected > 7
    assert compilation is not None and compilation["clip_count"] == 3
    duration = video_end(compilation["output_uri"])
    assert abs(duration - expected) < 0.25, (duration, expected)
    for key in first_keys:
        assert flow.store.exists(key)


def failed_and_retried(flow: Flow) -> tuple[dict, dict]:
    """The job the sandbox failed and its second attempt."""
    with flow.db.connect() as conn:
        jobs = job_rows.all_jobs(conn, SCRIPT)
    [failed] = [j for j in jobs if j.status == "failed"]
    [retried] = [
        j
        for j in jobs
        if (j.section_id, j.stage, j.take) == (failed.section_id, failed.stage, failed.take)
        and j.attempt == 2
    ]
    return failed, retried


def retry_collected(flow: Flow) -> Callable[[], bool]:
    def collected() -> bool:
        with flow.db.connect() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM jobs WHERE attempt = 2 AND collected_at IS NOT NULL"
            ).fetchone()
        return bool(row and row["n"])

    return collected


TAKE_ASSETS = {"keyframe": "keyframes", "clip": "clips", "soundtrack": "soundtrack"}


def check_evaluations(flow: Flow, stage: str) -> list[dg.AssetCheckEvaluation]:
    asset = TAKE_ASSETS[stage]
    return [
        evaluation
        for run in flow.runs
        for evaluation in run.get_asset_check_evaluations()
        if evaluation.check_name == NO_FAILED and evaluation.asset_key == dg.AssetKey(asset)
    ]


def test_a_failed_prediction_is_resubmitted_as_attempt_2(flow: Flow, stored_script: Script) -> None:
    flow.sandbox.knobs.fail_next = 1
    start(flow)
    flow.drive(lambda: flow.status(SCRIPT) == "review")

    failed, retried = failed_and_retried(flow)
    assert failed.attempt == 1 and retried.status == "succeeded"
    assert retried.prediction_id != failed.prediction_id
    assert retried.input == failed.input, "the retry asks for the same take"
    # The failure shows on its take's asset and partition, as the run that resubmits it ran.
    [observed] = [
        event.asset_observation_data.asset_observation
        for run in flow.runs
        for event in run.get_asset_observation_events()
    ]
    assert observed.asset_key == dg.AssetKey(TAKE_ASSETS[failed.stage])
    assert observed.partition == SCRIPT
    assert observed.metadata["attempt"].value == 1 and observed.metadata["retried"].value
    assert observed.metadata["prediction_id"].value == failed.prediction_id
    assert observed.description and "tried again" in observed.description
    assert check_evaluations(flow, failed.stage), f"no {NO_FAILED} evaluation"
    with flow.db.connect() as conn:
        assert [q["section"] for q in review_queue(conn, SCRIPT)] == ["hook", "offer", "close"]


def test_a_failed_prediction_fails_the_stage_check(flow: Flow, stored_script: Script) -> None:
    flow.sandbox.knobs.fail_next = 1
    start(flow)
    flow.drive(retry_collected(flow))  # later runs of the stage cannot see the failure any more
    failed, _ = failed_and_retried(flow)
    evaluations = check_evaluations(flow, failed.stage)
    assert any(not e.passed for e in evaluations), [e.passed for e in evaluations]


def test_a_prediction_out_of_attempts_fails_the_script_until_retried(
    flow: Flow, stored_script: Script
) -> None:
    flow.sandbox.knobs.fail_next = 1_000  # every prediction fails, retries included
    start(flow)
    flow.drive(lambda: flow.status(SCRIPT) == "failed")
    with flow.db.connect() as conn:
        state = script_status(conn, SCRIPT)
        jobs = job_rows.all_jobs(conn, SCRIPT)
    assert state["status"] == "failed"
    assert "after 3 attempts" in state["error"], state["error"]
    assert max(j.attempt for j in jobs) == 3, "no fourth attempt without an operator"
    # The Dagster UI shows it too: the collecting run that reported the last failures.
    metadata = [
        event.materialization.metadata
        for run in flow.runs
        for event in run.get_asset_materialization_events()
        if "script_status" in event.materialization.metadata
    ]
    assert metadata and metadata[-1]["script_status"].value == "failed"
    assert "after 3 attempts" in metadata[-1]["script_error"].value
    # Its check fails as an error (a warning while attempts remain), naming the reason.
    failed = [e for stage in TAKE_ASSETS for e in check_evaluations(flow, stage) if not e.passed]
    assert any(
        e.severity == dg.AssetCheckSeverity.ERROR and "after 3 attempts" in (e.description or "")
        for e in failed
    ), [(e.severity, e.description) for e in failed]

    ticks_before = len(flow.runs)
    flow.launch(flow.tick("webhook_sensor"))
    assert len(flow.runs) == ticks_before, "a failed script is left alone"

    flow.sandbox.knobs.fail_next = 0
    with flow.db.connect() as conn:
        retried = retry_script(conn, SCRIPT)
        with pytest.raises(NotFailed):
            retry_script(conn, SCRIPT)
    assert retried["attempt_round"] == 2
    flow.drive(lambda: flow.status(SCRIPT) == "review")
    with flow.db.connect() as conn:
        assert script_status(conn, SCRIPT)["error"] is None
        assert max(j.attempt for j in job_rows.all_jobs(conn, SCRIPT)) == 4


NARRATED = "spring-launch-narrated"


def jobs_per_stage(flow: Flow) -> Counter[tuple[str, str]]:
    with flow.db.connect() as conn:
        return Counter((j.section_id, j.stage) for j in job_rows.all_jobs(conn, NARRATED))


def retakes_stored(flow: Flow) -> bool:
    with flow.db.connect() as conn:
        narration = take_rows.take_of(conn, NARRATED, "hook", "narration", 2)
        clip = take_rows.take_of(conn, NARRATED, "close", "clip", 2)
    return narration is not None and clip is not None and flow.status(NARRATED) == "review"


def test_a_rejected_narration_is_spoken_again_and_nothing_else(
    flow: Flow, registry: Registry
) -> None:
    """A narration rejection regenerates the voice alone (with the corrected words and speed);
    a clip rejection the picture alone; compile waits for both kinds of approval."""
    path = PROJECT_ROOT / "config" / "scripts" / f"{NARRATED}.yaml"
    with flow.db.connect() as conn:
        insert_script(conn, load_script(path, registry), str(path), default_workspace_id(conn))
    start(flow)
    flow.drive(lambda: flow.status(NARRATED) == "review")
    before = jobs_per_stage(flow)
    with flow.db.connect() as conn:
        queue = review_queue(conn, NARRATED)
        assert sorted((q["section"], q["subject"], q["take"]) for q in queue) == [
            (s, subject, 1) for s in ("close", "hook", "offer") for subject in ("clip", "narration")
        ]
        words = "Tired of choosing dinner, night after night?"
        decide(
            conn,
            NARRATED,
            "hook",
            "rejected",
            subject="narration",
            text=words,
            params={"speed": 1.3},
            reviewer="test",
        )
        decide(conn, NARRATED, "close", "rejected", prompt="dinner by candle light", reviewer="t")

    flow.drive(lambda: retakes_stored(flow))
    added = jobs_per_stage(flow) - before
    assert added == Counter(
        {("hook", "narration"): 1, ("close", "keyframe"): 1, ("close", "clip"): 1}
    ), "the hook's picture and the close's voice are not generated again"
    with flow.db.connect() as conn:
        jobs = job_rows.all_jobs(conn, NARRATED)
        sections = {s["id"]: s for s in conn.execute(
            "SELECT id, current_take, narration_take FROM sections WHERE script_id = %s",
            (NARRATED,),
        ).fetchall()}  # fmt: skip
        queue = review_queue(conn, NARRATED)
        spoken = take_rows.take_of(conn, NARRATED, "hook", "narration", 2)
    [voice] = [j for j in jobs if (j.section_id, j.stage, j.take) == ("hook", "narration", 2)]
    assert voice.input["text"] == words
    assert voice.input["speed"] == 1.3 and voice.input["voice"] == "af_bella"
    assert voice.collected_at is not None and spoken is not None
    assert spoken.media_key.endswith("hook/narration-v2.wav")
    assert (sections["hook"]["current_take"], sections["hook"]["narration_take"]) == (1, 2)
    assert (sections["close"]["current_take"], sections["close"]["narration_take"]) == (2, 1)
    assert [(q["section"], q["subject"], q["take"]) for q in queue] == [
        ("hook", "clip", 1),
        ("hook", "narration", 2),
        ("offer", "clip", 1),
        ("offer", "narration", 1),
        ("close", "clip", 2),
        ("close", "narration", 1),
    ]
    assert queue[1]["spoken_text"] == words

    with flow.db.connect() as conn:
        for item in queue:
            if item["subject"] == "clip":
                decide(conn, NARRATED, item["section"], "approved", reviewer="test")
        with pytest.raises(NotApproved, match=r"hook \(narration\), offer \(narration\)"):
            request_compile(conn, NARRATED)
        for item in queue:
            if item["subject"] == "narration":
                decide(conn, NARRATED, item["section"], "approved", subject="narration")
    flow.drive(lambda: flow.status(NARRATED) == "compiled")
    assert jobs_per_stage(flow) - before == added, "approvals generate nothing"

    # The compiled video follows the voices: each section lasts its voice and the script's
    # pause (0.4 s), however long its clip; measured from the decoded output.
    with flow.db.connect() as conn:
        sections = conn.execute(
            "SELECT id, current_take, narration_take FROM sections WHERE script_id = %s"
            " ORDER BY position",
            (NARRATED,),
        ).fetchall()
        voices = [take_rows.take_of(conn, NARRATED, s["id"], "narration", s["narration_take"])
                  for s in sections]  # fmt: skip
        clips = [take_rows.take_of(conn, NARRATED, s["id"], "clip", s["current_take"])
                 for s in sections]  # fmt: skip
        compilation = conn.execute(
            "SELECT * FROM compilations WHERE script_id = %s AND status = 'succeeded'",
            (NARRATED,),
        ).fetchone()
    voice_s = [float(v.duration_s or 0) for v in voices if v is not None]
    clip_s = [float(c.duration_s or 0) for c in clips if c is not None]
    assert len(voice_s) == len(clip_s) == 3
    with av.open(compilation["output_uri"]) as container:
        assert container.streams.audio, "the voices are in the video"
        frame = 1 / float(container.streams.video[0].average_rate or 30)
    duration = video_end(compilation["output_uri"])
    planned = compilation["plan"]["clips"]
    assert [c["narration"].rsplit("/", 2)[-2:] for c in planned] == [
        ["hook", "narration-v2.wav"], ["offer", "narration-v1.wav"], ["close", "narration-v1.wav"],
    ]  # fmt: skip
    # Whole frames (6 fps here): a section is its voice and pause rounded up to a frame, or
    # its clip when that is within a frame of it (kept whole), and the video is its sections.
    assert duration == pytest.approx(sum(c["duration_s"] for c in planned), abs=0.05)
    for clip, voice, clip_len in zip(planned, voice_s, clip_s, strict=True):
        timing = clip["timing"]
        assert voice + 0.4 - 0.011 <= timing["section_s"] <= voice + 0.4 + 2 * frame, timing
        assert clip["duration_s"] == pytest.approx(timing["section_s"], abs=0.01)
        if clip["kind"] == "video" and clip_len < voice + 0.4 - frame:
            assert timing["action"] == "slow", timing  # the script's fit
    # The offer is a still: rendered from its keyframe as long as its voice, not stretched.
    assert (planned[1]["kind"], planned[1]["timing"]["action"]) == ("image", "still")
    longer = [v for v, c in zip(voice_s, clip_s, strict=True) if v > c]
    assert longer, "the sample's voices outlast at least one clip"
