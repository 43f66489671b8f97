"""Cuts sharing sections (hook variants): every section compiled once into a finished part
(captions burnt, voice mixed, its stretch of the music under it at the loudness target), each
cut joined from the parts by stream copy; a shared section's video and audio packets are the
same bytes in every cut, and every cut plays at the soundtrack's loudness target."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.media import decode_summary
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import ClipInput, CompileOptions, SoundtrackSpec, TransitionSpec
from vsl_pipelines.media.part_music import Loudness, MusicStretch, gain_db, music_stretches
from vsl_pipelines.media.variant_cuts import compile_cuts

# The soundtrack's target in these tests: not the voices' own -16 LUFS, so a cut at the target
# shows the music's gain brought it there.
TARGET_LUFS = -20.0


def video_packet_hashes(path: Path, stream: str = "v") -> list[str]:
    """The MD5 of each video (or `a`: audio) packet's data, read by stream copy (nothing
    decoded)."""
    lines = subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", path, "-map", f"0:{stream}", "-c", "copy", "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in lines if not line.startswith("#")]


def loudness(path: Path) -> tuple[float, float]:
    """FFmpeg's `ebur128` summary of the file's sound: integrated LUFS and true peak dBTP."""
    stderr = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostats", "-i", path, "-map", "0:a",
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stderr  # fmt: skip
    integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", stderr)[-1])
    peak = float(re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", stderr)[-1])
    return integrated, peak


@pytest.fixture(scope="module")
def two_hooks(make_clip, make_image, make_voice, make_music, tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    sections = {
        "hook~a": ClipInput(
            path=make_clip(seconds=1.0), narration=make_voice(seconds=0.8), caption="Tired?",
            title="hook",
        ),
        "hook~b": ClipInput(
            path=make_clip(seconds=1.0, tone=660), narration=make_voice(seconds=1.3),
            caption="Dinner, planned.", title="hook",
        ),
        "offer": ClipInput(
            path=make_image(), narration=make_voice(seconds=1.2), caption="Meet Planwise.",
            title="offer",
        ),
    }  # fmt: skip
    cuts = {"hook=a": ["hook~a", "offer"], "hook=b": ["hook~b", "offer"]}
    outputs = {key: folder / f"cut-{key[-1]}.mp4" for key in cuts}
    options = CompileOptions(
        preset="ultrafast", captions=True, verify="full",
        soundtrack=SoundtrackSpec(path=make_music(seconds=2.0), loudness_lufs=TARGET_LUFS),
    )  # fmt: skip
    return compile_cuts(sections, cuts, outputs, options, folder / "parts"), outputs


def test_the_shared_section_is_the_same_video_packets_in_both_cuts(two_hooks):
    made, outputs = two_hooks
    # Each section encoded once; each cut joined from its parts by copy.
    assert set(made.parts) == {"hook~a", "hook~b", "offer"}
    for key, result in made.cuts.items():
        assert [c.video for c in made.joins[key].clips] == ["copy", "copy"]
        assert result.verification is not None and result.verification.ok
        # The cut's plan tells what each section went through in its part: fitted to its voice.
        assert [c.timing is not None for c in result.plan.clips] == [True, True]
    offer = video_packet_hashes(Path(made.parts["offer"].output))
    a, b = (video_packet_hashes(outputs[key]) for key in ("hook=a", "hook=b"))
    assert len(a) != len(b)  # the hooks last differently
    assert a[-len(offer) :] == b[-len(offer) :]
    # Only the first packet differs from the part alone: the join puts the parameter sets in it.
    assert a[-len(offer) + 1 :] == offer[1:]


def test_each_cut_is_at_the_loudness_target_with_its_sound_copied_from_the_parts(two_hooks):
    made, outputs = two_hooks
    for part in made.parts.values():
        # Each part's mix (voice, music ducked under it) brought to the target by its gain.
        assert loudness(Path(part.output))[0] == pytest.approx(TARGET_LUFS, abs=0.5)
        assert any("soundtrack laid under the part" in note for note in part.plan.notes)
    for key, path in outputs.items():
        # The join encodes nothing: the parts' pictures and sound are both copied.
        assert [(c.video, c.audio) for c in made.joins[key].clips] == [("copy", "copy")] * 2
        integrated, peak = loudness(path)
        assert integrated == pytest.approx(TARGET_LUFS, abs=1.0)
        assert peak <= -1.5 + 0.5  # the ceiling, give or take the AAC encode
    # The shared section's sound is the same packets in both cuts and in its part.
    offer = video_packet_hashes(Path(made.parts["offer"].output), "a")
    a, b = (video_packet_hashes(outputs[key], "a") for key in ("hook=a", "hook=b"))
    inner = offer[1:-1]  # the join may leave a packet at either end (half a packet off)
    assert len(inner) > 10
    for cut in (a, b):
        at = next(i for i in range(len(cut)) if cut[i : i + len(inner)] == inner)
        assert len(cut) - (at + len(inner)) <= 1  # at the end of the cut, as the offer is


def test_each_cut_plays_its_own_hook_with_captions_and_music(two_hooks):
    made, outputs = two_hooks
    for key, path in outputs.items():
        result = made.cuts[key]
        summary = decode_summary(path)
        assert summary["sizes"] == {(160, 90)}
        assert abs(summary["video_end"] - result.duration_s) < 0.05
        # Caption cues on the cut's timeline: the hook's, then the offer's from where it starts.
        texts = [cue.text for cue in result.timed_text]
        assert texts[0] in ("Tired?", "Dinner,", "Dinner, planned.") and texts[-1].startswith(
            "Meet"
        )
        offer_start = result.plan.clips[1].start_s
        assert result.timed_text[-1].start_s >= offer_start - 1e-6
        assert [c.title for c in result.plan.clips] == ["hook", "offer"]
    assert made.cuts["hook=b"].duration_s > made.cuts["hook=a"].duration_s


def test_transitions_and_other_containers_do_not_share(tmp_path, make_clip):
    sections = {"a": ClipInput(path=make_clip())}
    fade = CompileOptions(transition=TransitionSpec(type="fade", seconds=0.2))
    for options in (fade, CompileOptions(format="webm")):
        with pytest.raises(MediaError, match="share parts"):
            compile_cuts(sections, {"x": ["a"]}, {"x": tmp_path / "x.mp4"}, options, tmp_path)


def test_each_part_plays_its_slots_stretch_of_the_music():
    # Hooks of 100 and 80 samples, a middle slot of variants 50 and 30, a shared close of 60.
    cuts = {
        "a,x": ["hook~a", "mid~x", "close"],
        "b,x": ["hook~b", "mid~x", "close"],
        "a,y": ["hook~a", "mid~y", "close"],
    }
    samples = {"hook~a": 100, "hook~b": 80, "mid~x": 50, "mid~y": 30, "close": 60}
    got = music_stretches(cuts, samples)
    assert got == {
        "hook~a": MusicStretch(start=0, end=100, samples=100, first=True, last=False),
        "hook~b": MusicStretch(start=0, end=100, samples=80, first=True, last=False),
        "mid~x": MusicStretch(start=100, end=150, samples=50, first=False, last=False),
        "mid~y": MusicStretch(start=100, end=150, samples=30, first=False, last=False),
        "close": MusicStretch(start=150, end=210, samples=60, first=False, last=True),
    }
    # Not slots: a section at two places, or cuts of different lengths.
    assert music_stretches({"x": ["a", "b"], "y": ["b", "a"]}, {"a": 1, "b": 1}) is None
    assert music_stretches({"x": ["a", "b"], "y": ["a"]}, {"a": 1, "b": 1}) is None


def test_a_shorter_variant_in_the_middle_crossfades_into_the_music_of_the_next_section(
    tmp_path, make_clip, make_image, make_voice, make_music
):
    sections = {
        "open": ClipInput(path=make_image(), narration=make_voice(seconds=1.2)),
        "mid~x": ClipInput(path=make_clip(seconds=1.0), narration=make_voice(seconds=0.8)),
        "mid~y": ClipInput(
            path=make_clip(seconds=1.0, tone=660), narration=make_voice(seconds=2.6)
        ),
        "close": ClipInput(path=make_image(), narration=make_voice(seconds=1.3)),
    }
    cuts = {"mid=x": ["open", "mid~x", "close"], "mid=y": ["open", "mid~y", "close"]}
    outputs = {key: tmp_path / f"{key[-1]}.mp4" for key in cuts}
    options = CompileOptions(
        preset="ultrafast", verify="full",
        soundtrack=SoundtrackSpec(path=make_music(seconds=0.6), loudness_lufs=TARGET_LUFS),
    )  # fmt: skip
    made = compile_cuts(sections, cuts, outputs, options, tmp_path / "parts")
    x, y = made.parts["mid~x"], made.parts["mid~y"]
    assert x.duration_s + 1.0 < y.duration_s  # x is the shorter: it crossfades, y does not
    for key, path in outputs.items():
        result = made.cuts[key]
        assert [(c.video, c.audio) for c in made.joins[key].clips] == [("copy", "copy")] * 3
        assert result.verification is not None and result.verification.ok
        summary = decode_summary(path)
        assert abs(summary["audio_end"] - summary["video_end"]) < 0.05
        assert loudness(path)[0] == pytest.approx(TARGET_LUFS, abs=1.0)
    # Each part is as long with its music as without: the crossfade fills x's own length.
    assert decode_summary(Path(x.output))["audio_end"] == pytest.approx(x.duration_s, abs=0.03)


def test_the_gain_reaches_the_target_unless_the_peak_would_pass_the_ceiling():
    spec = SoundtrackSpec(path=Path("music.m4a"), loudness_lufs=-16, true_peak_db=-1.5)
    assert gain_db(Loudness(integrated_lufs=-22.0, true_peak_db=-12.0), spec) == 6.0
    assert gain_db(Loudness(integrated_lufs=-13.0, true_peak_db=-0.5), spec) == -3.0
    assert gain_db(Loudness(integrated_lufs=-22.0, true_peak_db=-3.0), spec) == 1.5
    assert gain_db(Loudness(integrated_lufs=-70.0, true_peak_db=-90.0), spec) == 0.0


def test_cuts_that_are_not_slots_get_the_music_mixed_per_cut(
    tmp_path, make_clip, make_voice, make_music
):
    sections = {
        "a": ClipInput(path=make_clip(seconds=1.0), narration=make_voice(seconds=0.8)),
        "b": ClipInput(path=make_clip(seconds=1.0, tone=660), narration=make_voice(seconds=1.3)),
    }
    cuts = {"ab": ["a", "b"], "ba": ["b", "a"]}
    outputs = {key: tmp_path / f"{key}.mp4" for key in cuts}
    options = CompileOptions(
        preset="ultrafast", verify="full",
        soundtrack=SoundtrackSpec(path=make_music(seconds=2.0), loudness_lufs=TARGET_LUFS),
    )  # fmt: skip
    made = compile_cuts(sections, cuts, outputs, options, tmp_path / "parts")
    for key, path in outputs.items():
        # The pictures copied, the sound mixed over the joined parts (the parts have no music).
        assert [c.video for c in made.joins[key].clips] == ["copy", "copy"]
        assert not any(
            "soundtrack" in note for part in made.parts.values() for note in part.plan.notes
        )
        assert made.cuts[key].verification.ok
        assert loudness(path)[0] == pytest.approx(TARGET_LUFS, abs=2.5)
