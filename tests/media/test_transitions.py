from pathlib import Path

import pytest

from tests.fixtures.media import decode_errors, decode_summary
from tests.media.test_compile import assert_in_step
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import CompileOptions, TransitionSpec


@pytest.mark.parametrize("kind", ["fade", "dissolve", "wipe", "slide", "circleopen"])
def test_transition_duration_is_sum_minus_overlaps(make_clip, tmp_path, kind):
    clips = [
        make_clip(seconds=1.0, tone=300),
        make_clip(seconds=1.0, fps=25, audio=False),
        make_clip(width=320, height=180, seconds=1.0),
    ]
    options = CompileOptions(transition=TransitionSpec.parse(f"{kind}:0.3"), preset="ultrafast")
    result = compile_video(clips, tmp_path / "x.mp4", options)
    assert result.plan.mode == "transitions"
    assert all(c.video == "encode" for c in result.plan.clips)
    assert result.plan.expected_duration_s == pytest.approx(3.0 - 2 * 0.3)
    summary = decode_summary(Path(result.output))
    assert summary["sizes"] == {(160, 90)}
    assert summary["frames"] == 72
    assert summary["video_end"] == pytest.approx(2.4, abs=1 / 30 + 1e-3)
    assert summary["audio_end"] == pytest.approx(summary["video_end"], abs=1 / 30 + 1e-3)
    assert result.verification.ok


def test_transition_longer_than_a_clip_is_refused(make_clip, tmp_path):
    options = CompileOptions(transition=TransitionSpec(type="fade", seconds=1.5))
    with pytest.raises(MediaError, match="transition"):
        compile_video([make_clip(seconds=1.0)] * 2, tmp_path / "x.mp4", options)


def test_unknown_transition_is_refused():
    with pytest.raises(ValueError, match="unknown transition"):
        TransitionSpec.parse("sparkle:1")


def test_trimmed_and_late_clips_keep_their_sound_in_step(make_clip, trim_clip, remux, tmp_path):
    """Transitions decode every clip in one graph: a clip trimmed by stream copy shows from its
    cut (its edit list hides the frames before), and a clip whose picture starts 0.2 s after
    its sound keeps that distance (its picture was re-based to zero, its sound was not)."""
    trimmed = trim_clip(make_clip(seconds=3.0, preset="veryfast", marker=2.2), 1.3)
    source = make_clip(seconds=2.0, marker=1.2)
    late = remux(
        f"picture-late_{source.name}",
        *("-itsoffset", "0.2", "-i", source, "-i", source, "-map", "0:v", "-map", "1:a"),
    )
    options = CompileOptions(transition=TransitionSpec.parse("fade:0.3"), preset="ultrafast")
    result = compile_video([make_clip(seconds=1.0), trimmed, late], tmp_path / "x.mp4", options)
    assert result.verification is not None and result.verification.ok
    assert decode_errors(Path(result.output)) == ""
    assert [c.start_s for c in result.plan.clips] == pytest.approx([0.0, 0.7, 2.1])
    assert decode_summary(Path(result.output))["video_end"] == pytest.approx(4.1, abs=0.034)
    assert_in_step(Path(result.output), trimmed, 0.7)
    assert_in_step(Path(result.output), late, 2.1)
