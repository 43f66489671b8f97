"""Narrated sections: timing from the voice, captions at its phrases, and the mix, measured on
the compiled outputs (frames decoded with PyAV, sound measured with FFmpeg's filters)."""

import re
import subprocess
import wave
from itertools import pairwise
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from tests.fixtures.media import decode_summary
from tests.media.test_compile import assert_copied
from tests.media.test_soundtrack import integrated_loudness
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import (
    ClipInput,
    CompileOptions,
    SoundtrackSpec,
    TransitionSpec,
    VoiceTiming,
)
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.media.speech_timing import Silence, phrase_cues, silence_map, speech_runs
from vsl_pipelines.sandbox.speech import speech_available

FRAME = 1 / 30
SENTENCE = "Tired of deciding what to cook, every single night? We plan it for you."
REPEATED = 1.0  # mean grey difference below which two decoded frames are the same picture


def options(**voice: object) -> CompileOptions:
    return CompileOptions(preset="ultrafast", voice=VoiceTiming(**voice))  # type: ignore[arg-type]


def pictures(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image().convert("L") for frame in container.decode(video=0)]


def difference(a: Image.Image, b: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


def changes(frames: list[Image.Image]) -> list[bool]:
    """Per frame after the first: is it a new picture?"""
    return [difference(a, b) > REPEATED for a, b in pairwise(frames)]


def level_db(path: Path, start: float, end: float, band_hz: int | None = None) -> float:
    """Mean volume (dB) of the output's audio between `start` and `end`, optionally only
    around one frequency (a narrow band-pass)."""
    band = f"bandpass=f={band_hz}:width_type=q:w=8," if band_hz else ""
    run = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0",
         "-af", f"atrim=start={start}:end={end},{band}volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.findall(r"mean_volume:\s+(-?[\d.]+) dB", run.stderr)[-1])


def onsets(path: Path, duration_s: float) -> list[float]:
    """Where speech starts in a file's sound, from its silence map."""
    return [start for start, _ in speech_runs(duration_s, silence_map(path, duration_s))]


# -- timing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fit", ["hold", "slow", "loop"])
def test_short_clip_lasts_its_voice_and_pad(make_clip, make_voice, tmp_path, fit):
    clip = make_clip(seconds=2.0, width=160, height=120)
    voice = make_voice(seconds=3.5)
    inputs = [ClipInput(path=clip, narration=voice)]
    result = compile_video(inputs, tmp_path / f"{fit}.mp4", options(fit=fit, max_slowdown=1.5))
    planned = result.plan.clips[0]
    assert planned.video == "encode" and planned.timing is not None
    assert planned.timing.action == fit and planned.timing.section_s == pytest.approx(4.0)
    assert planned.timing.reason in planned.reasons
    assert result.plan.model_dump()["clips"][0]["timing"]["voice_s"] == pytest.approx(3.5)
    summary = decode_summary(Path(result.output))
    assert summary["video_end"] == pytest.approx(4.0, abs=FRAME + 1e-3)
    assert summary["audio_end"] == pytest.approx(4.0, abs=FRAME + 1e-3)
    assert result.verification is not None and result.verification.ok
    frames = pictures(Path(result.output))
    new = changes(frames)
    assert len(frames) == 120
    if fit == "hold":
        assert planned.timing.held_s == pytest.approx(2.0)
        assert sum(new[:59]) >= 55, "the clip plays at its own pace"
        assert not any(new[60:]), "then its last frame is held to the section's end"
    elif fit == "slow":
        assert planned.timing.slowdown == 1.5 and planned.timing.held_s == pytest.approx(1.0)
        # 60 source frames over the first 3 s (90 frames): slowed 1.5 times, not more
        assert sum(new[:90]) == pytest.approx(60, abs=2)
        assert not any(new[91:]), "held for the second it could not be slowed further"
    else:
        assert difference(frames[3], frames[63]) < REPEATED, "the clip starts again at 2 s"
        assert difference(frames[3], frames[33]) > REPEATED
        assert sum(new[60:]) >= 55, "and plays on, not held"


def test_long_clip_is_cut_to_voice_and_pad(make_clip, make_voice, tmp_path):
    inputs = [ClipInput(path=make_clip(seconds=6.0), narration=make_voice(seconds=2.0))]
    result = compile_video(inputs, tmp_path / "trim.mp4", options())
    planned = result.plan.clips[0]
    assert planned.timing.action == "trim" and planned.video == "encode"
    assert "cut to 2.50 s" in planned.timing.reason
    assert decode_summary(Path(result.output))["video_end"] == pytest.approx(2.5, abs=FRAME)


def test_still_lasts_voice_and_pad(make_image, make_voice, tmp_path):
    inputs = [ClipInput(path=make_image(160, 120), narration=make_voice(seconds=1.2))]
    result = compile_video(inputs, tmp_path / "still.mp4", options(pad_s=0.3))
    assert result.plan.clips[0].timing.action == "still"
    summary = decode_summary(Path(result.output))
    assert summary["video_end"] == pytest.approx(1.5, abs=FRAME / 2)
    assert summary["audio_streams"] == 1, "a voice gives the video a sound track"


def test_clip_matching_its_voice_is_still_copied(make_clip, make_voice, tmp_path):
    clip = make_clip(seconds=2.0, tone=700)
    inputs = [ClipInput(path=clip, narration=make_voice(seconds=1.5)), ClipInput(path=clip)]
    result = compile_video(inputs, tmp_path / "copy.mp4", options(pad_s=0.5))
    planned = result.plan.clips[0]
    assert planned.timing.action == "none" and planned.video == "copy"
    assert result.verification.ok
    assert_copied(clip, Path(result.output))


@pytest.mark.parametrize(
    ("fmt", "transition"),
    [("mp4", None), ("webm", None), ("avi", None), ("mp4", "fade:0.5")],
)
def test_each_voice_starts_with_its_section(make_clip, make_voice, tmp_path, fmt, transition):
    silent = make_clip(seconds=1.0, audio=False)
    inputs = [
        ClipInput(path=silent, narration=make_voice(seconds=2.0)),
        ClipInput(path=silent, narration=make_voice(seconds=1.5)),
    ]
    opts = options(pad_s=0.6)
    opts.format = fmt  # type: ignore[assignment]
    opts.transition = TransitionSpec.parse(transition) if transition else None
    result = compile_video(inputs, tmp_path / f"voices.{fmt}", opts)
    assert result.verification is not None and result.verification.ok, result.verification
    assert result.plan.clips[1].start_s == pytest.approx(2.6, abs=FRAME)
    assert result.plan.expected_duration_s == pytest.approx(2.6 + 2.1, abs=FRAME)
    output = Path(result.output)
    heard = onsets(output, result.duration_s)
    assert heard[0] == pytest.approx(0.0, abs=0.03)
    assert heard[1] == pytest.approx(2.6, abs=0.03), "the second voice starts with its section"


# -- captions ---------------------------------------------------------------------------------


def test_phrases_break_at_pauses():
    silences = [Silence(start_s=1.63, end_s=1.78), Silence(start_s=2.85, end_s=3.15)]
    cues = phrase_cues(SENTENCE, 4.09, silences, offset_s=2.0)
    assert [c.text for c in cues] == [
        "Tired of deciding what to cook,",
        "every single night?",
        "We plan it for you.",
    ]
    assert [c.start_s for c in cues] == [2.0, 3.78, 5.15]
    assert [c.end_s for c in cues] == [3.78, 5.15, pytest.approx(4.09 + 0.3 + 2.0)]


def test_phrases_without_pauses_are_split_by_word_length():
    text = "one two three four five six seven eight nine ten eleven twelve"
    cues = phrase_cues(text, 3.6, [])
    assert [len(c.text.split()) for c in cues] == [6, 6]
    assert cues[0].start_s == 0.0
    # "seven" starts after 22 of the 51 letters: 22/51 of 3.6 s
    assert cues[1].start_s == pytest.approx(3.6 * 22 / 51, abs=1e-3)


def test_more_pauses_than_words_give_one_cue_per_word():
    silences = [Silence(start_s=t, end_s=t + 0.2) for t in (0.5, 1.0, 1.5, 2.0)]
    cues = phrase_cues("Hello world", 3.0, silences)
    assert [c.text for c in cues] == ["Hello", "world"]
    assert cues[1].start_s in {s.end_s for s in silences}
    assert all(a.end_s == b.start_s for a, b in pairwise(cues))


@pytest.mark.skipif(not speech_available(), reason="needs the `speech` extra (espeak-ng)")
def test_a_phrase_starts_after_the_punctuation_the_voice_paused_at(make_voice):
    """Letters are a rough clock: the estimate alone put "a" before the pause after the colon."""
    text = "Meet Planwise: a week of dinners planned in ten minutes."
    voice = make_voice(text=text)
    duration = probe_media(voice).duration_s
    cues = phrase_cues(text, duration, silence_map(voice, duration))
    assert cues[0].text == "Meet Planwise:"
    assert cues[1].text.startswith("a week")


def test_model_word_timings_take_precedence():
    words = [("Fresh", 0.1, 0.4), ("food,", 0.45, 0.8), ("fast.", 1.2, 1.6)]
    cues = phrase_cues("ignored text", 2.0, [Silence(start_s=0.0, end_s=1.9)], words=words)
    assert [(c.text, c.start_s) for c in cues] == [("Fresh food,", 0.1), ("fast.", 1.2)]


@pytest.mark.skipif(not speech_available(), reason="needs the `speech` extra (espeak-ng)")
def test_captions_follow_the_spoken_phrases(make_clip, make_voice, tmp_path):
    picture = make_clip(width=320, height=240, seconds=1.0, audio=False, pattern="smptebars")
    voice = make_voice(text=SENTENCE)
    inputs = [
        ClipInput(path=picture),
        ClipInput(path=picture, caption=SENTENCE, narration=voice),
    ]
    result = compile_video(inputs, tmp_path / "phrases.mp4", options(fit="hold"))
    assert result.verification.ok
    section = result.plan.clips[1]
    cues = result.captions
    assert len(cues) >= 3 and " ".join(c.text for c in cues) == SENTENCE
    output = Path(result.output)
    heard = [t for t in onsets(output, result.duration_s) if t >= section.start_s - 0.05]
    for cue in cues:
        assert min(abs(cue.start_s - t) for t in heard) <= 0.3, (cue, heard)
    assert cues[-1].end_s <= section.start_s + section.duration_s + 1e-6
    frames = pictures(output)
    for after in cues[1:]:
        at = round(after.start_s * 30)
        lower = (0, 120, 320, 240)
        old, new = frames[at - 3].crop(lower), frames[at + 3].crop(lower)
        assert difference(old, new) > 2, f"the caption changes at {after.start_s:.2f} s"
        upper = (0, 0, 320, 100)
        assert difference(frames[at - 3].crop(upper), frames[at + 3].crop(upper)) < REPEATED


# -- mix --------------------------------------------------------------------------------------


def test_voice_is_heard_in_its_section_at_the_loudness_target(make_clip, make_voice, tmp_path):
    silent = make_clip(seconds=2.0, audio=False)
    inputs = [ClipInput(path=silent, narration=make_voice(seconds=2.0)), ClipInput(path=silent)]
    result = compile_video(inputs, tmp_path / "voice.mp4", options(pad_s=1.0))
    output = Path(result.output)
    assert level_db(output, 0.2, 1.8) > -30
    assert level_db(output, 3.2, 4.8) < -60, "the unnarrated silent clip stays silent"
    assert integrated_loudness(output) == pytest.approx(-16, abs=2)


def test_music_is_ducked_under_the_voice(make_clip, make_voice, tmp_path, media_dir):
    music = media_dir / "music_2khz.m4a"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=2000:r=44100",
         "-t", "3", "-c:a", "aac", music],
        check=True,
    )  # fmt: skip
    silent = make_clip(seconds=2.0, audio=False)
    inputs = [ClipInput(path=silent, narration=make_voice(seconds=2.0)), ClipInput(path=silent)]
    opts = options(pad_s=0.5)
    opts.soundtrack = SoundtrackSpec(path=music, fade_out_s=0.2)
    result = compile_video(inputs, tmp_path / "ducked.mp4", opts)
    output = Path(result.output)
    under_voice = level_db(output, 0.5, 1.9, band_hz=2000)
    alone = level_db(output, 3.3, 4.3, band_hz=2000)
    assert alone - under_voice > 6, (under_voice, alone)
    assert integrated_loudness(output) == pytest.approx(-16, abs=2)


@pytest.mark.parametrize(
    ("clip_audio", "expected_db"), [("keep", 0), ("lower", -14), ("drop", -35)]
)
def test_clip_sound_under_the_voice(make_clip, make_voice, tmp_path, clip_audio, expected_db):
    # 3 kHz: far enough from the voice's 220 Hz that the band-pass hears the tone alone
    toned = make_clip(seconds=2.0, tone=3000)
    inputs = [ClipInput(path=toned, narration=make_voice(seconds=1.5)), ClipInput(path=toned)]
    result = compile_video(inputs, tmp_path / f"{clip_audio}.mp4", options(clip_audio=clip_audio))
    output = Path(result.output)
    under_voice = level_db(output, 0.3, 1.4, band_hz=3000)
    alone = level_db(output, 2.3, 3.4, band_hz=3000)
    if clip_audio == "drop":
        assert under_voice - alone < expected_db, (under_voice, alone)
    else:
        assert under_voice - alone == pytest.approx(expected_db, abs=3), (under_voice, alone)


# -- bad input --------------------------------------------------------------------------------


def _zero_length_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24000)
    return path


def _silent_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24000)
        out.writeframes(b"\0\0" * 24000)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "file not found"),
        ("image", "narration has no audio stream"),
        ("text", "not a readable media file"),
        ("zero", "narration has no length"),
        ("silent", "narration is silent"),
    ],
)
def test_unusable_narration_is_named(make_clip, make_image, tmp_path, kind, message):
    voices = {
        "missing": tmp_path / "nowhere.wav",
        "image": make_image(),
        "text": tmp_path / "voice.wav",
        "zero": _zero_length_wav(tmp_path / "zero.wav"),
        "silent": _silent_wav(tmp_path / "silent.wav"),
    }
    (tmp_path / "voice.wav").write_text("not a voice\n" * 20)
    inputs = [ClipInput(path=make_clip(seconds=1.0), narration=voices[kind])]
    with pytest.raises(MediaError, match=message) as raised:
        compile_video(inputs, tmp_path / "bad.mp4", options())
    assert str(voices[kind]) in str(raised.value)
    assert not (tmp_path / "bad.mp4").exists()
