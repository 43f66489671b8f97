"""AVI output (MPEG-4 Part 2 and MP3) and the quality levels, checked by decoding the outputs."""

from __future__ import annotations

import subprocess
from array import array
from pathlib import Path

import av
import pytest

from tests.fixtures.media import decode_summary
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.encoders import QUALITY, audio_encoder_args, video_encoder_args
from vsl_pipelines.media.options import ClipInput, CompileOptions, TransitionSpec
from vsl_pipelines.media.profile import OutputProfile


def _codecs(path: Path) -> tuple[str, str | None]:
    with av.open(str(path)) as container:
        audio = container.streams.audio
        return (
            container.streams.video[0].codec_context.codec.canonical_name,
            audio[0].codec_context.codec.canonical_name if audio else None,
        )


def test_avi_from_clips_silent_clips_and_stills(make_clip, make_image, tmp_path):
    inputs = [
        ClipInput(path=make_clip(seconds=1.0, tone=300)),
        ClipInput(path=make_clip(seconds=1.0, audio=False)),
        ClipInput(path=make_image(150, 100), duration_s=0.5),
        ClipInput(path=make_clip(seconds=1.0, tone=500, layout="mono", rate=44100)),
    ]
    result = compile_video(inputs, tmp_path / "out.avi", CompileOptions(format="avi"))
    assert [c.video for c in result.plan.clips] == ["encode", "encode", "render", "encode"]
    assert {c.audio for c in result.plan.clips} <= {"encode", "silence"}
    assert result.verification is not None and result.verification.ok, result.verification
    assert _codecs(Path(result.output)) == ("mpeg4", "mp3")
    with av.open(result.output) as container:
        assert container.format.name == "avi"
        assert container.streams.video[0].codec_context.codec_tag == "XVID"
    summary = decode_summary(Path(result.output))
    assert summary["sizes"] == {(160, 90)}
    assert summary["frames"] == 105, "every frame decodes: 3 s of clips and 0.5 s still at 30 fps"
    assert summary["video_end"] == pytest.approx(3.5, abs=0.034)
    assert summary["audio_end"] == pytest.approx(summary["video_end"], abs=1152 / 48000 + 0.002)


def _tone_after_silence(folder: Path, silence_s: float) -> Path:
    path = folder / f"late-tone-{silence_s}.mp4"
    subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-t", "1", "-i", "testsrc2=s=160x90:r=30",
         "-f", "lavfi", "-t", "1", "-i", f"sine=f=440:r=48000,volume=enable='lt(t,{silence_s})':volume=0",
         "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2",
         path],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def _first_sound_s(path: Path) -> float:
    """When the decoded audio (as a player decodes it, from the start) first rises above -30 dB."""
    samples = array("h")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for mono in resampler.resample(frame):
                samples.frombytes(bytes(mono.planes[0])[: mono.samples * 2])
    loud = next(i for i, value in enumerate(samples) if abs(value) > 1000)
    return loud / 48000


@pytest.mark.parametrize("transition", [None, "fade:0.3"])
def test_avi_audio_plays_with_its_picture(tmp_path, transition):
    # AVI cannot say that MP3 starts late by the encoder's delay (1105 samples, 23 ms); the
    # engine trims it, so the tone sounds as far into the video as in the MP4 it came from.
    clip = _tone_after_silence(tmp_path, 0.2)
    options = CompileOptions(
        format="avi", transition=TransitionSpec.parse(transition) if transition else None
    )
    result = compile_video([clip, clip], tmp_path / "sync.avi", options)
    assert result.verification is not None and result.verification.ok
    assert _first_sound_s(Path(result.output)) == pytest.approx(_first_sound_s(clip), abs=0.002)


def test_an_avi_input_is_copied_into_avi(make_clip, tmp_path):
    first = compile_video(
        [make_clip(seconds=1.0)], tmp_path / "a.avi", CompileOptions(format="avi")
    )
    clips = [Path(first.output), make_clip(seconds=1.0, tone=600)]
    result = compile_video(clips, tmp_path / "b.avi", CompileOptions(format="avi"))
    assert [c.video for c in result.plan.clips] == ["copy", "encode"]
    assert result.verification is not None and result.verification.ok, result.verification
    assert decode_summary(Path(result.output))["frames"] == 60


def test_avi_with_captions_and_soundtrack(make_clip, tmp_path):
    music = tmp_path / "music.wav"
    subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-t", "3",
         "-i", "sine=f=220:r=48000", music],
        check=True, timeout=60,
    )  # fmt: skip
    from vsl_pipelines.media.options import SoundtrackSpec

    inputs = [ClipInput(path=make_clip(seconds=1.0), caption="Hello"), make_clip(seconds=1.0)]
    options = CompileOptions(format="avi", soundtrack=SoundtrackSpec(path=music))
    result = compile_video(inputs, tmp_path / "finished.avi", options)
    assert result.verification is not None and result.verification.ok, result.verification
    assert _codecs(Path(result.output)) == ("mpeg4", "mp3")
    assert decode_summary(Path(result.output))["frames"] == 60


def test_quality_levels_map_to_each_codec():
    h264 = OutputProfile(width=160, height=90, fps="30")
    vp9 = OutputProfile(format="webm", width=160, height=90, fps="30", video_codec="vp9")
    mpeg4 = OutputProfile(format="avi", width=160, height=90, fps="30", video_codec="mpeg4")
    for quality, settings in QUALITY.items():
        x264 = video_encoder_args(h264, quality=quality)
        assert x264[x264.index("-crf") + 1] == str(settings.x264_crf)
        assert x264[x264.index("-preset") + 1] == settings.x264_preset
        assert str(settings.vp9_crf) in video_encoder_args(vp9, quality=quality)
        xvid = video_encoder_args(mpeg4, quality=quality)
        assert xvid[xvid.index("-q:v") + 1] == str(settings.mpeg4_qscale)
    assert video_encoder_args(h264, "ultrafast", 30, "high")[3:6] == ["ultrafast", "-crf", "30"]
    mp3 = OutputProfile(format="avi", width=2, height=2, fps="30", audio_codec="mp3")
    assert audio_encoder_args(mp3, "draft")[:4] == ["-c:a", "libmp3lame", "-b:a", "128k"]
    assert audio_encoder_args(mp3, part=True)[:2] == ["-c:a", "pcm_s16le"], "parts join exactly"


def test_higher_quality_encodes_more_bits(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0, pattern="mandelbrot"), make_clip(seconds=1.0)]
    sizes = {}
    for quality in ("draft", "standard", "high"):
        for fmt in ("mp4", "avi"):
            options = CompileOptions(format=fmt, quality=quality, size="320x180", verify="quick")
            result = compile_video(clips, tmp_path / f"{quality}.{fmt}", options)
            assert result.verification is not None and result.verification.ok
            sizes[quality, fmt] = result.size_bytes
    for fmt in ("mp4", "avi"):
        assert sizes["draft", fmt] < sizes["standard", fmt] < sizes["high", fmt], sizes
