"""Copied and re-encoded H.264 clips in one MP4: the header carries every clip's parameter sets,
so a player that reads them only from the header (no in-band SPS/PPS) decodes every frame alike.
"""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from vsl_pipelines.media.avcc import AvcConfigError, header_mismatch, merge, parse_avcc
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.mp4_header import read_video_avcc, replace_video_avcc
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.media.profile import OutputProfile
from vsl_pipelines.media.verify import verify_output

FAST = {"preset": "ultrafast"}
PROFILE_160x90 = OutputProfile(width=160, height=90, fps="30")


def ffmpeg(*args: str | Path) -> None:
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run([*command, *map(str, args)], check=True, timeout=120)


def x264_clip(dest: Path, *, x264: str = "", preset: str = "ultrafast", faststart=False) -> Path:
    """1 s 160x90 30 fps with a tone, encoded with the given x264 settings."""
    args: list[str | Path] = ["-f", "lavfi", "-t", "1", "-i", "testsrc2=s=160x90:r=30"]
    args += ["-f", "lavfi", "-t", "1", "-i", "sine=f=500:r=48000", "-pix_fmt", "yuv420p"]
    args += ["-c:v", "libx264", "-preset", preset, "-c:a", "aac", "-ac", "2"]
    args += ["-x264-params", x264] if x264 else []
    args += ["-movflags", "+faststart"] if faststart else []
    ffmpeg(*args, dest)
    return dest


def frame_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [
            hashlib.md5(b"".join(bytes(plane) for plane in frame.planes)).hexdigest()
            for frame in container.decode(video=0)
        ]


def header_only(path: Path, dest: Path) -> Path:
    """The video with every in-band SPS and PPS removed: only the header's remain."""
    ffmpeg("-i", path, "-map", "0:v", "-c", "copy", "-bsf:v", "filter_units=remove_types=7|8", dest)
    return dest


def check(result, name: str):
    return next(c for c in result.verification.checks if c.name == name)


def test_avcc_round_trip_and_ids(tmp_path):
    clip = x264_clip(tmp_path / "id3.mp4", x264="sps-id=3")
    record = read_video_avcc(clip)
    config = parse_avcc(record)
    assert config.to_bytes() == record
    assert bytes.fromhex(probe_media(clip).h264_config or "") == record
    assert (config.sps_ids, config.pps_ids) == ({3}, {3})
    assert config.length_size == 4


def test_merge_keeps_distinct_sets_and_refuses_a_clash(tmp_path):
    zero = parse_avcc(read_video_avcc(x264_clip(tmp_path / "a.mp4")))
    one = parse_avcc(read_video_avcc(x264_clip(tmp_path / "b.mp4", x264="sps-id=1")))
    other_zero = parse_avcc(read_video_avcc(x264_clip(tmp_path / "c.mp4", preset="medium")))
    merged = merge([zero, one, zero])
    assert (merged.sps_ids, merged.pps_ids) == ({0, 1}, {0, 1})
    assert merged.sps == (zero.sps[0], one.sps[0])
    assert parse_avcc(merged.to_bytes()) == merged
    with pytest.raises(AvcConfigError, match="two different SPSs with id 0"):
        merge([zero, other_zero])
    with pytest.raises(AvcConfigError, match="not an avcC"):
        parse_avcc(b"\x00\x00\x00\x01\x67")


def test_replace_avcc_in_place_keeps_every_media_byte(tmp_path):
    one = read_video_avcc(x264_clip(tmp_path / "one.mp4", x264="sps-id=1"))
    for name, faststart in (("moov_last.mp4", False), ("moov_first.mp4", True)):
        clip = x264_clip(tmp_path / name, faststart=faststart)
        before = clip.read_bytes()
        frames = frame_hashes(clip)
        original = read_video_avcc(clip)
        merged = merge([parse_avcc(original), parse_avcc(one)]).to_bytes()
        done = replace_video_avcc(clip, merged)
        if faststart:  # moov before the media with no padding after it: left as it was
            assert not done and clip.read_bytes() == before
            continue
        assert done and read_video_avcc(clip) == merged
        after = clip.read_bytes()
        mdat = before.index(b"mdat") - 4
        assert after[:mdat] == before[:mdat]  # media and everything before moov untouched
        assert len(after) == len(before) + len(merged) - len(original)
        assert len(frames) == 30 and frame_hashes(clip) == frames


def test_copied_and_reencoded_clips_decode_from_the_header_alone(make_clip, tmp_path):
    common = make_clip(seconds=1.0, tone=300)
    resized = make_clip(width=320, height=180, seconds=1.0, tone=620)
    result = compile_video([common, resized, common], tmp_path / "mix.mp4", CompileOptions(**FAST))
    assert [c.video for c in result.plan.clips] == ["copy", "encode", "copy"]
    assert result.plan.profile.sps_id == 1 and not result.plan.notes
    header = parse_avcc(read_video_avcc(Path(result.output)))
    assert (header.sps_ids, header.pps_ids) == ({0, 1}, {0, 1})
    assert check(result, "parameter sets in header").ok
    stripped = header_only(Path(result.output), tmp_path / "stripped.mp4")
    full = frame_hashes(Path(result.output))
    assert len(full) == 90
    assert frame_hashes(stripped) == full


def test_parameter_set_check_flags_a_header_that_misses_a_clip(make_clip, tmp_path):
    """What FFmpeg's concat alone writes: the second clip's sets only in-band."""
    common = make_clip(seconds=1.0, tone=300)
    other = x264_clip(tmp_path / "other.mp4", preset="medium")
    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{common}'\nfile '{other}'\n")
    joined = tmp_path / "joined.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", joined)
    header = parse_avcc(read_video_avcc(joined))
    with av.open(str(joined)) as container:
        keyframes = [bytes(p) for p in container.demux(video=0) if p.is_keyframe and p.size]
    assert header_mismatch(keyframes[0], header) is None
    assert header_mismatch(keyframes[-1], header) == "in-band SPS 0 differs from the header's"
    verification = verify_output(joined, PROFILE_160x90, 2.0, has_audio=True)
    flagged = next(c for c in verification.checks if c.name == "parameter sets in header")
    assert not flagged.ok and not flagged.blocking
    # (1.02 s: FFmpeg's bare concat shifts the second clip by the AAC priming)
    assert re.fullmatch(
        r"keyframe at 1\.0\d\d s: in-band SPS 0 differs from the header's", flagged.detail
    )
    assert verification.ok  # advisory: such a file plays where in-band sets are honoured
    stripped = header_only(joined, tmp_path / "stripped.mp4")
    try:
        alike = frame_hashes(stripped) == frame_hashes(joined)
    except av.InvalidDataError:  # the second clip's slices fail against the first's sets
        alike = False
    assert not alike


def test_clips_whose_sets_clash_are_reencoded_not_copied(make_clip, tmp_path):
    common = make_clip(seconds=1.0, tone=300)
    other_encoder = x264_clip(tmp_path / "medium.mp4", preset="medium")
    clips = [common, other_encoder, common]
    result = compile_video(clips, tmp_path / "clash.mp4", CompileOptions(**FAST))
    plans = result.plan.clips
    assert [c.video for c in plans] == ["copy", "encode", "copy"]
    assert any("parameter sets clash" in reason for reason in plans[1].reasons), plans[1].reasons
    assert check(result, "parameter sets in header").ok
    stripped = header_only(Path(result.output), tmp_path / "stripped.mp4")
    assert frame_hashes(stripped) == frame_hashes(Path(result.output))


def test_all_copied_clips_leave_the_header_alone(make_clip, tmp_path):
    clip = make_clip(seconds=1.0, tone=300)
    source = shutil.copy(clip, tmp_path / "a.mp4")
    result = compile_video([source, clip], tmp_path / "same.mp4", CompileOptions(**FAST))
    assert all(c.copied for c in result.plan.clips) and result.plan.profile.sps_id == 0
    assert read_video_avcc(Path(result.output)) == read_video_avcc(clip)
    assert check(result, "parameter sets in header").ok


def test_own_encodes_that_differ_get_ids_of_their_own(make_image, tmp_path):
    """A full-range JPEG still and a PNG still encode to different SPS (colour in the VUI)."""
    inputs = [
        ClipInput(path=make_image(150, 100), duration_s=0.5),
        ClipInput(path=make_image(100, 150, "jpg"), duration_s=0.5),
        ClipInput(path=make_image(150, 100), duration_s=0.5, zoom=True),
    ]
    result = compile_video(inputs, tmp_path / "stills.mp4", CompileOptions(**FAST))
    assert [c.video for c in result.plan.clips] == ["render"] * 3 and not result.plan.notes
    header = parse_avcc(read_video_avcc(Path(result.output)))
    assert len(header.sps) == 2 and header.sps_ids == header.pps_ids
    assert check(result, "parameter sets in header").ok
    stripped = header_only(Path(result.output), tmp_path / "stripped.mp4")
    assert frame_hashes(stripped) == frame_hashes(Path(result.output))


def test_header_check_names_sets_the_header_lacks(make_clip, tmp_path):
    """FFmpeg's concat of a clip using id 0 and one using id 1: the header has only id 0."""
    listing = tmp_path / "list.txt"
    second = x264_clip(tmp_path / "id1.mp4", x264="sps-id=1")
    listing.write_text(f"file '{make_clip(seconds=1.0, tone=300)}'\nfile '{second}'\n")
    joined = tmp_path / "joined.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", joined)
    stripped = header_only(joined, tmp_path / "stripped.mp4")
    problems = []
    for path in (joined, stripped):
        header = parse_avcc(read_video_avcc(path))
        with av.open(str(path)) as container:
            keyframes = [bytes(p) for p in container.demux(video=0) if p.is_keyframe and p.size]
        problems.append([header_mismatch(sample, header) for sample in keyframes])
    assert problems[0] == [None, "in-band SPS 1 is not in the header"]
    assert problems[1] == [None, "slice uses PPS 1, not in the header"]
