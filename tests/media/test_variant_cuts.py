"""Cuts sharing sections (hook variants): every section compiled once into a finished part
(captions burnt, voice mixed), each cut joined from the parts by stream copy with the music
mixed over its sound; a shared section's video packets are the same bytes in every cut."""

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.media import decode_summary
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import ClipInput, CompileOptions, SoundtrackSpec, TransitionSpec
from vsl_pipelines.media.variant_cuts import compile_cuts


def video_packet_hashes(path: Path) -> list[str]:
    """The MD5 of each video packet's data, read by stream copy (nothing decoded)."""
    lines = subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", path, "-map", "0:v", "-c", "copy", "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in lines if not line.startswith("#")]


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
        soundtrack=SoundtrackSpec(path=make_music(seconds=2.0)),
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
