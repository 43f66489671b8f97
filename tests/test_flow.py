"""The whole flow through Dagster: script in, webhooks, collection, review, compiled video out."""

from pathlib import Path

import av
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.flow import Flow
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.watch import cuts_of_compilation
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import Script
from vsl_pipelines.media.avcc import parse_avcc
from vsl_pipelines.media.mp4_header import read_video_avcc
from vsl_pipelines.metrics.prometheus import metrics_renderer
from vsl_pipelines.services.review import decide, review_queue
from vsl_pipelines.services.script_state import script_status


def _decode(path: str) -> tuple[int, set[tuple[int, int]], float, bool]:
    """Decode every video frame: (frames, frame sizes, duration, has audio)."""
    with av.open(path) as container:
        video = container.streams.video[0]
        sizes: set[tuple[int, int]] = set()
        frames = 0
        for frame in container.decode(video):
            sizes.add((frame.width, frame.height))
            frames += 1
        duration = float(container.duration / av.time_base)
        return frames, sizes, duration, bool(container.streams.audio)


def test_script_to_compiled_video(flow: Flow, stored_script: Script) -> None:
    # A new script's generation starts with its partition, not at the schedule's next tick.
    [start] = flow.tick("script_partitions_sensor")
    assert start.run_key == "generate:spring-launch:v1"
    assert flow.instance.get_dynamic_partitions("scripts") == ["spring-launch"]
    assert flow.launch([start], default_job="generate") == 1
    assert flow.status("spring-launch") == "generating"
    assert flow.schedule() == []  # the schedule takes only scripts still queued

    flow.drive(lambda: flow.status("spring-launch") == "review")
    with flow.db.connect() as conn:
        queue = review_queue(conn, "spring-launch")
        assert sorted(item["section"] for item in queue) == ["close", "hook", "offer"]
        for item in queue:
            decide(conn, "spring-launch", item["section"], "approved", reviewer="test")
        conn.commit()
        state = script_status(conn, "spring-launch")
    clip_durations = [
        next(t["duration_s"] for t in s["takes"] if t["stage"] == "clip") for s in state["sections"]
    ]
    # hook and close: 14 frames at 6 fps from the image-to-video model; offer: a 3 s still.
    assert abs(clip_durations[1] - 3.0) < 0.05
    assert abs(clip_durations[0] - 14 / 6) < 0.2 and abs(clip_durations[2] - 14 / 6) < 0.2

    flow.drive(lambda: flow.status("spring-launch") == "compiled")
    with flow.db.connect() as conn:
        compilation = conn.execute(
            "SELECT * FROM compilations WHERE status = 'succeeded'"
        ).fetchone()
        jobs = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT prediction_id) AS p FROM jobs"
        ).fetchone()
        assert compilation is not None
        # Its one cut (no hook variants) has its watch page as soon as the video exists.
        cut_variants = [c.variant for c in cuts_of_compilation(conn, compilation["id"])]
    assert cut_variants == ["main"]
    frames, sizes, duration, has_audio = _decode(compilation["output_uri"])
    expected = sum(clip_durations)
    assert abs(duration - expected) < 0.25, (duration, expected)
    assert len(sizes) == 1 and frames > 0
    assert has_audio, "the soundtrack is mixed in"
    # 3 keyframes + 2 clips + 1 soundtrack, each created once.
    assert jobs["n"] == 6 and jobs["p"] == 6
    # The metrics endpoint counts what happened, across every model.
    samples = [
        s
        for family in text_string_to_metric_families(metrics_renderer(flow.db)().decode())
        for s in family.samples
    ]
    started = sum(s.value for s in samples if s.name == "vsl_jobs_started_total")
    completed = sum(s.value for s in samples if s.name == "vsl_jobs_completed_total")
    compiles = [s.value for s in samples if s.name == "vsl_compile_seconds_count"]
    webhooks = [s.value for s in samples if s.name == "vsl_webhook_latency_seconds_count"]
    assert (started, completed, compiles, webhooks) == (6, 6, [1], [6])
    assert flow.tick("approval_sensor") == []  # nothing is requested twice
    [compile_run] = [r for r in flow.runs if r.job_def.name == "compile"]
    checks = {c.check_name: c.passed for c in compile_run.get_asset_check_evaluations()}
    assert checks == {
        "every_frame_has_output_size": True,
        "audio_stream_as_planned": True,
        "audio_in_step_with_video": True,
        "decodes_with_expected_duration": True,
        "parameter_sets_in_header": True,
        # No renditions (not applicable); the poster (`output.poster`) is the delivery file.
        "renditions_at_their_sizes": True,
        "renditions_within_a_frame": True,
        "renditions_audio_in_step": True,
        "delivery_files_stored": True,
    }
    plan = compilation["plan"]
    # The two model clips share a profile; the still (30 fps) differs from them and is re-encoded.
    assert [c["video"] for c in plan["clips"]] == ["copy", "encode", "copy"], plan
    # ... with H.264 parameter-set id 1, which the header carries beside the copied clips' 0.
    header = parse_avcc(read_video_avcc(Path(compilation["output_uri"])))
    assert header.sps_ids == {0, 1} and plan["notes"] == []


def test_output_options_reach_the_compiled_video(flow: Flow, sample_script: Script) -> None:
    """Transitions, captions, size and WebM set in the script shape the final video."""
    document = sample_script.model_dump(mode="json")
    document.update(
        id="spring-webm",
        soundtrack=None,
        output={"size": "640x360", "transition": "fade:0.5", "captions": True, "format": "webm"},
    )
    script = Script.model_validate(document)
    with flow.db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
    flow.tick("script_partitions_sensor")
    flow.launch(flow.schedule(), default_job="generate")
    flow.drive(lambda: flow.status("spring-webm") == "review")
    with flow.db.connect() as conn:
        for item in review_queue(conn, "spring-webm"):
            decide(conn, "spring-webm", item["section"], "approved")
        conn.commit()
    flow.drive(lambda: flow.status("spring-webm") == "compiled")
    with flow.db.connect() as conn:
        compilation = conn.execute("SELECT * FROM compilations").fetchone()
        clips = conn.execute(
            "SELECT sum(duration_s) AS s FROM takes WHERE stage = 'clip'"
        ).fetchone()
    assert compilation["output_uri"].endswith(".webm")
    frames, sizes, duration, has_audio = _decode(compilation["output_uri"])
    assert frames > 0
    assert sizes == {(640, 360)}
    assert abs(duration - (clips["s"] - 2 * 0.5)) < 0.25, "two 0.5 s fades overlap the clips"
    assert not has_audio, "no clip and no soundtrack has audio"
    with av.open(compilation["output_uri"]) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
    assert compilation["plan"]["mode"] == "transitions"
    assert flow.store.exists(compilation["output_key"].rsplit(".", 1)[0] + "-poster.jpg")
    [compile_run] = [r for r in flow.runs if r.job_def.name == "compile"]
    checks = {c.check_name: c.passed for c in compile_run.get_asset_check_evaluations()}
    assert checks["decodes_with_expected_duration"], "the expected duration counts the overlaps"
    assert all(checks.values()), checks
