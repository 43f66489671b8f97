import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.media import decode_summary
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.options import CompileOptions, SoundtrackSpec


def integrated_loudness(path: Path) -> float:
    run = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a",
         "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", run.stderr)[-1])


@pytest.mark.parametrize("music_seconds", [0.6, 6.0], ids=["looped", "trimmed"])
def test_soundtrack_fits_the_video(make_clip, make_music, tmp_path, music_seconds):
    clips = [make_clip(seconds=1.5, tone=300), make_clip(seconds=1.5, audio=False)]
    spec = SoundtrackSpec(path=make_music(music_seconds), loudness_lufs=-16, fade_out_s=0.5)
    result = compile_video(
        clips, tmp_path / "music.mp4", CompileOptions(soundtrack=spec, preset="ultrafast")
    )
    assert all(c.video == "copy" for c in result.plan.clips)
    summary = decode_summary(Path(result.output))
    assert summary["audio_end"] == pytest.approx(3.0, abs=1 / 30 + 1e-3)
    assert summary["video_end"] == pytest.approx(3.0, abs=1e-3)
    assert integrated_loudness(Path(result.output)) == pytest.approx(-16, abs=2.5)


def test_soundtrack_on_silent_clips_adds_audio(make_clip, make_music, tmp_path):
    clips = [make_clip(seconds=1.0, audio=False)] * 2
    spec = SoundtrackSpec(path=make_music(3.0), ducking=False)
    result = compile_video(clips, tmp_path / "m.mp4", CompileOptions(soundtrack=spec))
    summary = decode_summary(Path(result.output))
    assert summary["audio_streams"] == 1
    assert summary["audio_end"] == pytest.approx(2.0, abs=1 / 30 + 1e-3)
    assert result.verification.ok
