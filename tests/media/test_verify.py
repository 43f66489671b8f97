"""Verification at the quick and full levels, on outputs of the engine and on files broken on
purpose with FFmpeg: a join without a keyframe, parameter sets missing from or differing with
the header, timestamps FFmpeg had to squeeze, a re-encoded part that does not decode."""

import subprocess
from pathlib import Path

import pytest

from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.concat import concat_copy
from vsl_pipelines.media.options import CompileOptions
from vsl_pipelines.media.profile import OutputProfile
from vsl_pipelines.media.verify import Segment, verify_output

FAST = {"preset": "ultrafast"}
PROFILE = OutputProfile(width=160, height=90, fps="30")
SILENT = OutputProfile(width=160, height=90, fps="30", has_audio=False)
# What the Dagster asset reads (vsl_pipelines/defs/compilation/assets.py).
ASSET_CHECKS = {"every frame size", "audio stream", "audio in step", "parameter sets in header"}


def ffmpeg(*args: str | Path) -> None:
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run([*command, *map(str, args)], check=True, timeout=120)


def check(verification, name: str):
    return next(c for c in verification.checks if c.name == name)


def failed(verification) -> set[str]:
    return {c.name for c in verification.checks if not c.ok}


def copied(*starts: float) -> list[Segment]:
    return [Segment(start_s=s, video_encoded=False, audio_encoded=False) for s in starts]


def video_only(src: Path, dest: Path, *bsf: str) -> Path:
    """The clip's video alone, stream-copied, through the given bitstream filters."""
    ffmpeg(
        "-i", src, "-map", "0:v", "-c", "copy", *(["-bsf:v", ",".join(bsf)] if bsf else []), dest
    )
    return dest


@pytest.mark.parametrize("level", ["quick", "full"])
def test_copied_clips_pass_and_quick_decodes_one_frame_per_part(make_clip, tmp_path, level):
    clips = [make_clip(seconds=1.0, tone=tone) for tone in (300, 400, 500)]
    options = CompileOptions(verify=level, **FAST)
    result = compile_video(clips, tmp_path / "out.mp4", options)
    verification = result.verification
    assert verification is not None and verification.ok and verification.level == level
    assert all(c.ok for c in verification.checks), verification
    assert {c.name for c in verification.checks} >= ASSET_CHECKS
    assert verification.video_frames == 90
    assert verification.decoded_frames == (3 if level == "quick" else 90)
    assert (
        check(verification, "keyframes at joins").detail == "3 parts, each starts with a keyframe"
    )
    assert verification.video_duration_s == pytest.approx(3.0, abs=0.034)
    assert verification.audio_duration_s == pytest.approx(3.0, abs=0.034)


def test_quick_decodes_every_frame_of_what_was_encoded(make_clip, make_image, tmp_path):
    common = make_clip(seconds=1.0, tone=300)
    resized = make_clip(width=320, height=180, seconds=1.0, tone=620)
    still = make_image(120, 80)
    options = CompileOptions(verify="quick", still_duration_s=0.5, **FAST)
    result = compile_video([common, resized, still, common], tmp_path / "mix.mp4", options)
    assert [c.video for c in result.plan.clips] == ["copy", "encode", "render", "copy"]
    verification = result.verification
    assert verification is not None and verification.ok, verification
    assert verification.decoded_frames == 1 + 30 + 15 + 1
    assert verification.video_frames == 105


def test_bool_verify_still_means_full_or_off(make_clip, tmp_path):
    assert CompileOptions(verify=True).verify == "full"
    assert CompileOptions().verify == "full"  # the Dagster compile's level
    result = compile_video(
        [make_clip(seconds=1.0)], tmp_path / "o.mp4", CompileOptions(verify=False)
    )
    assert result.verification is None


@pytest.mark.parametrize("level", ["quick", "full"])
def test_a_join_without_its_keyframe_fails(make_clip, tmp_path, level):
    """The second part lost its IDR picture: it starts on P-frames that point at nothing."""
    first = video_only(make_clip(seconds=1.0, tone=300), tmp_path / "first.mp4")
    headless = video_only(
        make_clip(seconds=1.0, tone=400), tmp_path / "headless.mp4", r"noise=drop=eq(n\,0)"
    )
    joined = concat_copy(
        [(first, 1.0), (headless, 1.0)], tmp_path / "joined.mp4", SILENT, timeout_s=60
    )
    verification = verify_output(
        joined, SILENT, 2.0, has_audio=False, level=level, segments=copied(0.0, 1.0)
    )
    assert not verification.ok
    joins = check(verification, "keyframes at joins")
    assert not joins.ok and joins.blocking
    assert joins.detail.startswith("part 2 at 1.000 s starts with a frame that is not a keyframe")
    assert "part 2: " in check(verification, "decodes").detail


@pytest.mark.parametrize("level", ["quick", "full"])
def test_a_trimmed_clip_joined_by_stream_copy_as_it_is_fails(make_clip, trim_clip, tmp_path, level):
    """A clip trimmed by stream copy between keyframes, its packets joined as they are: the
    frames its edit list hid come back, overlapping the clip before (what the compile did
    before it re-encoded such clips: still refused)."""
    neighbour = make_clip(seconds=1.0, preset="veryfast")
    trimmed = trim_clip(make_clip(seconds=3.0, preset="veryfast"), 1.3)
    joined = concat_copy(
        [(neighbour, 1.0), (trimmed, 1.7), (neighbour, 1.0)],
        tmp_path / "joined.mp4",
        PROFILE,
        timeout_s=60,
    )
    verification = verify_output(
        joined, PROFILE, 3.7, has_audio=True, level=level, segments=copied(0.0, 1.0, 2.7)
    )
    assert not verification.ok
    assert {"timestamps", "keyframes at joins", "decodes"} <= failed(verification)
    assert "part 2 at 1.000 s starts with a frame that is not a keyframe" in (
        check(verification, "keyframes at joins").detail
    )


@pytest.mark.parametrize(
    ("x264", "problem"),
    [
        ("sps-id=1", "in-band SPS 1 is not in the header"),
        ("", "in-band SPS 0 differs from the header's"),
    ],
)
def test_parameter_sets_missing_from_or_unlike_the_header_fail_at_quick(
    make_clip, tmp_path, x264, problem
):
    """FFmpeg's concat keeps the first clip's sets in the header; the second clip's go in-band."""
    second = tmp_path / "second.mp4"
    ffmpeg(
        "-f", "lavfi", "-t", "1", "-i", "testsrc2=s=160x90:r=30", "-pix_fmt", "yuv420p",
        "-c:v", "libx264", "-preset", "ultrafast" if x264 else "medium",
        *(["-x264-params", x264] if x264 else []), second,
    )  # fmt: skip
    first = video_only(make_clip(seconds=1.0, tone=300), tmp_path / "first.mp4")
    joined = concat_copy(
        [(first, 1.0), (second, 1.0)], tmp_path / "joined.mp4", SILENT, timeout_s=60
    )
    verification = verify_output(
        joined, SILENT, 2.0, has_audio=False, level="quick", segments=copied(0.0, 1.0)
    )
    header = check(verification, "parameter sets in header")
    assert not header.ok and not header.blocking
    assert header.detail == f"keyframe at 1.000 s: {problem}"
    assert failed(verification) == {"parameter sets in header"}


@pytest.mark.parametrize("level", ["quick", "full"])
def test_timestamps_ffmpeg_had_to_repair_fail(make_clip, tmp_path, level):
    """Frame 15's decode time moved back 0.27 s: FFmpeg refuses to write non-monotonic DTS and
    squeezes the frame one tick after the previous one, which this check reports."""
    clip = make_clip(seconds=1.0, tone=300)
    bent = r"setts=dts=if(eq(N\,15)\,DTS-4096\,DTS):pts=if(eq(N\,15)\,PTS-4096\,PTS)"
    broken = video_only(clip, tmp_path / "bent.mp4", bent)
    verification = verify_output(broken, SILENT, 1.0, has_audio=False, level=level)
    stamps = check(verification, "timestamps")
    assert not stamps.ok and stamps.blocking
    assert "less than half a frame apart" in stamps.detail
    assert not verification.ok


def test_overlapping_parts_fail(make_clip, tmp_path):
    """A part placed 0.5 s into a 1 s part (a wrong duration): frames shown twice, no keyframe
    where the second part was meant to start."""
    first = make_clip(seconds=1.0, tone=300)
    second = make_clip(seconds=1.0, tone=400)
    joined = concat_copy(
        [(first, 0.5), (second, 1.0)], tmp_path / "overlap.mp4", PROFILE, timeout_s=60
    )
    verification = verify_output(
        joined, PROFILE, 2.0, has_audio=True, level="quick", segments=copied(0.0, 1.0)
    )
    assert {"timestamps", "keyframes at joins", "duration"} <= failed(verification)


def test_a_reencoded_part_that_does_not_decode_fails(make_clip, tmp_path):
    """Bytes of the second part are corrupted. Marked as encoded, quick decodes all of it and
    fails; marked as copied, quick reads only its first frame, and full still decodes it all."""
    first = video_only(make_clip(seconds=1.0, tone=300), tmp_path / "first.mp4")
    corrupt = video_only(
        make_clip(seconds=1.0, tone=400), tmp_path / "corrupt.mp4", "noise=amount=200"
    )
    joined = concat_copy(
        [(first, 1.0), (corrupt, 1.0)], tmp_path / "joined.mp4", SILENT, timeout_s=60
    )
    encoded = [Segment(0.0, video_encoded=False), Segment(1.0, video_encoded=True)]
    quick = verify_output(joined, SILENT, 2.0, has_audio=False, level="quick", segments=encoded)
    decodes = check(quick, "decodes")
    assert not quick.ok and not decodes.ok and decodes.blocking
    assert "corrupt video frames" in decodes.detail
    full = verify_output(
        joined, SILENT, 2.0, has_audio=False, level="full", segments=copied(0.0, 1.0)
    )
    assert not full.ok and not check(full, "decodes").ok
    assert full.decoded_frames < 60 or "corrupt" in check(full, "decodes").detail


def test_a_wrong_frame_size_in_a_copied_part_fails_at_quick(make_clip, tmp_path):
    """A part of another size stream-copied in: its first frame, decoded, shows it."""
    first = video_only(make_clip(seconds=1.0, tone=300), tmp_path / "first.mp4")
    other = video_only(make_clip(width=320, height=180, seconds=1.0), tmp_path / "other.mp4")
    joined = concat_copy(
        [(first, 1.0), (other, 1.0)], tmp_path / "joined.mp4", SILENT, timeout_s=60
    )
    verification = verify_output(
        joined, SILENT, 2.0, has_audio=False, level="quick", segments=copied(0.0, 1.0)
    )
    sizes = check(verification, "every frame size")
    assert not sizes.ok and sizes.detail == "1 wrong, part 2: 320x180"


def test_off_is_not_a_verification(tmp_path):
    with pytest.raises(ValueError, match="verifies nothing"):
        verify_output(tmp_path / "x.mp4", PROFILE, 1.0, has_audio=True, level="off")
