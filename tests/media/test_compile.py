import hashlib
import subprocess
from pathlib import Path

import av
import pytest

from tests.fixtures.media import decode_errors, decode_summary, edit_list_seconds, marker_times
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.errors import FFmpegTimeout, MediaError
from vsl_pipelines.media.options import ClipInput, CompileOptions

FAST = {"preset": "ultrafast"}
# Copied AAC joins on packet boundaries: each clip's sound starts within half a packet of its
# picture (48 kHz), and a beep found by its onset may move ~2 ms through an encode.
HALF_PACKET = 512 / 48000
IN_STEP = HALF_PACKET + 0.002


def _packet_hashes(path: Path, kind: str = "video") -> list[str]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [hashlib.md5(bytes(p)).hexdigest() for p in container.demux(stream) if p.size]


def _video_packet_hashes(path: Path) -> list[str]:
    return _packet_hashes(path, "video")


def assert_copied(source: Path, output: Path) -> None:
    """The source's video packets appear byte for byte in the output (stream copy)."""
    src = _video_packet_hashes(source)
    out = set(_video_packet_hashes(output))
    kept = sum(h in out for h in src[1:])  # the keyframe may gain in-band parameter sets
    assert kept == len(src) - 1


def assert_not_copied(source: Path, output: Path) -> None:
    out = set(_video_packet_hashes(output))
    assert not any(h in out for h in _video_packet_hashes(source)[1:])


def assert_valid(result, size: tuple[int, int], *, audio: bool = True) -> dict:
    summary = decode_summary(Path(result.output))
    assert summary["sizes"] == {size}
    assert result.verification is not None and result.verification.ok, result.verification
    assert all(c.ok for c in result.verification.checks), result.verification  # advisory too
    assert not result.plan.notes
    frame = 1 / float(summary["fps"])
    assert summary["video_end"] == pytest.approx(result.plan.expected_duration_s, abs=frame + 1e-3)
    assert summary["audio_streams"] == (1 if audio else 0)
    if audio:
        assert summary["audio_end"] == pytest.approx(summary["video_end"], abs=frame + 1e-3)
    if audio and result.output.endswith(".mp4"):
        # Played sample after sample, as players do, the sound lasts as long as the picture.
        assert summary["audio_played"] == pytest.approx(summary["video_end"], abs=IN_STEP)
    return summary


def no_leftovers(folder: Path) -> bool:
    return not any(p.name.startswith(".vsl-compile-") for p in folder.iterdir())


def test_matching_clips_are_stream_copied(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0, tone=tone) for tone in (300, 400, 500)]
    result = compile_video(clips, tmp_path / "out.mp4", CompileOptions(**FAST))
    assert [c.video for c in result.plan.clips] == ["copy"] * 3
    assert all(c.copied for c in result.plan.clips)
    summary = assert_valid(result, (160, 90))
    assert summary["frames"] == 90
    for clip in clips:
        assert_copied(clip, Path(result.output))
    assert result.size_bytes == (tmp_path / "out.mp4").stat().st_size
    assert {s["type"] for s in result.streams} == {"video", "audio"}
    assert no_leftovers(tmp_path)


def test_many_copied_clips_keep_audio_in_step(make_clip, tmp_path):
    clip = make_clip(seconds=0.7, tone=660)
    result = compile_video([clip] * 25, tmp_path / "long.mp4", CompileOptions(**FAST))
    summary = assert_valid(result, (160, 90))
    assert summary["frames"] == 25 * 21


def first_frame_s(path: Path) -> float:
    """When `path` shows its first frame, as FFmpeg decodes it (edit lists applied)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return float(frame.pts * frame.time_base)


def assert_in_step(output: Path, clip: Path, start_s: float) -> None:
    """The clip's marker (`make_clip(marker=...)`) in `output` from `start_s` on: its white frame
    at the same time into the clip, its beep as far from that frame as in the clip."""
    flash, beep = marker_times(clip)
    out_flash, out_beep = marker_times(output, after=start_s)
    assert out_flash - start_s == pytest.approx(flash - first_frame_s(clip), abs=1e-3)
    assert out_beep - out_flash == pytest.approx(beep - flash, abs=IN_STEP)


TRIM_S = 1.3  # inside the first GOP (x264's and x265's run 250 frames) and inside an AAC packet


@pytest.mark.parametrize("codec", ["h264", "hevc"])
@pytest.mark.parametrize("primed", [True, False], ids=["priming-declared", "priming-undeclared"])
@pytest.mark.parametrize("between", [False, True], ids=["alone", "between"])
def test_a_clip_trimmed_by_stream_copy_compiles(
    make_clip, trim_clip, tmp_path, codec, primed, between
):
    """Trimmed as editors and phones trim without re-encoding (`ffmpeg -ss 1.3 -i in -c copy`):
    the clip keeps its packets from the keyframe before the cut, and edit lists hide the frames
    before it and the part of the AAC packet before it. Joined by stream copy those frames
    showed (the verification refused the output: a part starting 1.3 s early, frames 0.1 ms
    apart, a join on a frame that is not a keyframe). Its picture is encoded from its first
    shown frame, its sound from its first sample, and it lasts what its edit list says."""
    source = make_clip(seconds=3.0, codec=codec, preset="veryfast", marker=2.2, primed=primed)
    trimmed = trim_clip(source, TRIM_S)
    neighbour = make_clip(seconds=1.0, preset="veryfast")  # matches the H.264 source
    clips = [neighbour, trimmed, neighbour] if between else [trimmed]
    result = compile_video(clips, tmp_path / "trimmed.mp4", CompileOptions(size="160x90", **FAST))
    planned = result.plan.clips[1 if between else 0]
    assert (planned.video, planned.audio) == ("encode", "encode")
    reasons = " ".join(planned.reasons)
    assert "an edit list hides the frames before it" in reasons or codec == "hevc"
    assert "ms into a packet" in reasons
    if between:
        assert [c.copied for c in result.plan.clips] == [True, False, True]
    summary = assert_valid(result, (160, 90))
    output = Path(result.output)
    assert decode_errors(output) == ""
    lasts = edit_list_seconds(trimmed)
    assert lasts == pytest.approx(3.0 - TRIM_S, abs=0.03)
    assert summary["frames"] == decode_summary(trimmed)["frames"] + (60 if between else 0)
    expected = lasts + (2.0 if between else 0.0)
    assert summary["video_end"] == pytest.approx(expected, abs=1 / 30 + 1e-3)
    assert_in_step(output, trimmed, 1.0 if between else 0.0)


def test_a_trim_on_an_audio_packet_boundary_keeps_its_sound_by_copy(make_clip, trim_clip, tmp_path):
    """Cut where an AAC packet starts (1.28 s = 60 packets of 1,024 samples, the encoder delay
    hidden whole): its picture is encoded, its audio packets are joined as they are."""
    trimmed = trim_clip(make_clip(seconds=3.0, preset="veryfast", marker=2.2), 1.28)
    neighbour = make_clip(seconds=1.0, preset="veryfast")
    result = compile_video(
        [neighbour, trimmed, neighbour], tmp_path / "cut.mp4", CompileOptions(**FAST)
    )
    assert [(c.video, c.audio) for c in result.plan.clips] == [
        ("copy", "copy"),
        ("encode", "copy"),
        ("copy", "copy"),
    ]
    assert_valid(result, (160, 90))
    output = Path(result.output)
    assert decode_errors(output) == ""
    with av.open(str(trimmed)) as container:
        shown = [
            hashlib.md5(bytes(p)).hexdigest()
            for p in container.demux(audio=0)
            if p.size and not p.is_discard
        ]
    out_audio = set(_packet_hashes(output, "audio"))
    assert sum(h in out_audio for h in shown) >= len(shown) - 1  # the last may not fit the end
    assert_in_step(output, trimmed, 1.0)


def test_clips_with_b_frames_keep_their_sound_in_step(make_clip, tmp_path):
    """Clips with B-frames (x264's `veryfast`, our own encodes at standard quality) decode from
    before zero; the concat demuxer seeks every stream to that decode time, so each clip's AAC
    priming packet, hidden by its edit list, came along and played: ~21 ms later sound at
    each join (128 ms by the sixth clip). Copied and encoded alike, the last clip's beep now
    sounds with its white frame."""
    clip = make_clip(seconds=1.0, preset="veryfast", marker=0.5)
    copies = compile_video([clip] * 6, tmp_path / "copies.mp4", CompileOptions(**FAST))
    assert all(c.copied for c in copies.plan.clips)
    encodes = compile_video(
        [clip] * 6, tmp_path / "encodes.mp4", CompileOptions(reencode_all=True, crf=35)
    )
    for result in (copies, encodes):
        assert_valid(result, (160, 90))
        assert_in_step(Path(result.output), clip, 5.0)


@pytest.mark.parametrize("case", ["both-late", "sound-late", "picture-late"])
@pytest.mark.parametrize("encoded", [False, True], ids=["copied", "encoded"])
def test_streams_starting_after_zero_keep_their_timing(make_clip, remux, tmp_path, case, encoded):
    """A clip whose streams start after zero (an empty edit, `-output_ts_offset`, `-itsoffset`):
    its picture joins where it is planned (the concat read it from zero: a gap and frames
    squeezed together at the next join), and its sound keeps its distance from the picture
    (an encoded picture was re-based to zero while its sound was not)."""
    size = (320, 180) if encoded else (160, 90)
    source = make_clip(width=size[0], height=size[1], seconds=2.0, marker=1.2)
    arguments = {
        "both-late": ["-i", source, "-output_ts_offset", "0.5"],
        "sound-late": ["-i", source, "-itsoffset", "0.2", "-i", source],
        "picture-late": ["-itsoffset", "0.2", "-i", source, "-i", source],
    }[case]
    maps = ["-map", "0:v", "-map", "1:a"] if case != "both-late" else []
    clip = remux(f"{case}_{source.name}", *arguments, *maps)
    neighbour = make_clip(seconds=1.0)
    result = compile_video(
        [neighbour, clip, neighbour], tmp_path / "late.mp4", CompileOptions(size="160x90", **FAST)
    )
    assert result.plan.clips[1].video == ("encode" if encoded else "copy")
    assert_valid(result, (160, 90))
    assert decode_errors(Path(result.output)) == ""
    assert_in_step(Path(result.output), clip, 1.0)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_copied_clip_in_another_time_base_is_remuxed_not_encoded(
    make_clip, remux, tmp_path, container
):
    """FFmpeg's concat demuxer keeps each file's ticks under the first file's time base: a
    matching clip timed in 1/90000 (or Matroska's milliseconds) was copied as it was and its
    frames landed at 15360/90000 of their times. Its packets now go through a remux into the
    output's time base first, still unchanged."""
    clip = make_clip(seconds=1.0, preset="veryfast", marker=0.5)
    extra = ["-video_track_timescale", "90000"] if container == "mp4" else []
    retimed = remux(f"retimed_{clip.stem}.{container}", "-i", clip, *extra)
    neighbour = make_clip(seconds=1.0, preset="veryfast")
    result = compile_video(
        [neighbour, retimed, neighbour], tmp_path / "tb.mp4", CompileOptions(**FAST)
    )
    assert [c.video for c in result.plan.clips] == ["copy"] * 3
    summary = assert_valid(result, (160, 90))
    assert summary["frames"] == 90
    assert decode_errors(Path(result.output)) == ""
    assert_copied(clip, Path(result.output))
    assert_in_step(Path(result.output), retimed, 1.0)


def test_mixed_sizes_aspects_and_rotation_reencode_only_mismatches(make_clip, tmp_path):
    common = make_clip(seconds=2.0, tone=300)
    clips = [
        common,
        make_clip(width=320, height=180, seconds=1.0),
        make_clip(width=90, height=160, seconds=1.0),
        make_clip(rotation=90, seconds=1.0),
        make_clip(width=120, height=90, sar="4/3", seconds=1.0),
        make_clip(seconds=1.0, tone=500),
    ]
    result = compile_video(clips, tmp_path / "mixed.mp4", CompileOptions(**FAST))
    actions = [c.video for c in result.plan.clips]
    assert actions == ["copy", "encode", "encode", "encode", "encode", "copy"]
    reasons = [" ".join(c.reasons) for c in result.plan.clips]
    assert "size 320x180" in reasons[1]
    assert "rotated" in reasons[3]
    assert "sample aspect" in reasons[4]
    assert_valid(result, (160, 90))
    assert_copied(common, Path(result.output))
    assert_not_copied(clips[1], Path(result.output))


def test_caller_size_preset_reencodes_everything_to_it(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0), make_clip(width=90, height=160, seconds=1.0)]
    options = CompileOptions(size="90x160", **FAST)
    result = compile_video(clips, tmp_path / "vertical.mp4", options)
    assert [c.video for c in result.plan.clips] == ["encode", "copy"]
    assert_valid(result, (90, 160))


def test_frame_rates_25_30_and_2997(make_clip, tmp_path):
    clips = [
        make_clip(fps=30, seconds=2.0),
        make_clip(fps=25, seconds=1.0),
        make_clip(fps="30000/1001", seconds=1.0),
    ]
    result = compile_video(clips, tmp_path / "fps.mp4", CompileOptions(**FAST))
    assert result.plan.profile.fps == "30"
    assert [c.video for c in result.plan.clips] == ["copy", "encode", "encode"]
    assert "fps 25 != 30" in result.plan.clips[1].reasons
    summary = assert_valid(result, (160, 90))
    assert summary["frames"] == 120


@pytest.mark.parametrize(
    "pattern", [(True, False), (False, True), (True, False, True), (False, True, False)]
)
def test_clips_with_and_without_audio_in_any_order(make_clip, tmp_path, pattern):
    clips = [make_clip(seconds=1.0, audio=has) for has in pattern]
    result = compile_video(clips, tmp_path / "order.mp4", CompileOptions(**FAST))
    for clip_plan, has in zip(result.plan.clips, pattern, strict=True):
        assert clip_plan.audio == ("copy" if has else "silence")
        assert clip_plan.video == "copy"
    assert_valid(result, (160, 90))


def test_all_silent_clips_make_a_silent_video(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0, audio=False)] * 2
    result = compile_video(clips, tmp_path / "silent.mp4", CompileOptions(**FAST))
    assert all(c.audio == "none" and c.copied for c in result.plan.clips)
    assert_valid(result, (160, 90), audio=False)


def test_reencoded_picture_keeps_matching_audio_by_copy(make_clip, tmp_path):
    common = make_clip(seconds=2.0, tone=300)
    resized = make_clip(width=320, height=180, seconds=1.0, tone=620)
    odd_audio = make_clip(fps=25, seconds=1.0, rate=44100, layout="mono", tone=700)
    clips = [common, resized, odd_audio]
    result = compile_video(clips, tmp_path / "keep.mp4", CompileOptions(**FAST))
    plans = result.plan.clips
    assert [(c.video, c.audio) for c in plans] == [
        ("copy", "copy"),
        ("encode", "copy"),
        ("encode", "encode"),
    ]
    assert "audio rate 44100 != 48000" in plans[2].reasons
    assert_valid(result, (160, 90))
    assert_not_copied(resized, Path(result.output))
    out_audio = set(_packet_hashes(Path(result.output), "audio"))
    source_audio = _packet_hashes(resized, "audio")
    # every AAC packet of the resized clip but the priming one is in the output byte for byte
    assert sum(h in out_audio for h in source_audio[1:]) >= len(source_audio) - 2
    assert not any(h in out_audio for h in _packet_hashes(odd_audio, "audio")[1:])


def test_reencode_all_encodes_audio_too(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0, tone=300), make_clip(seconds=1.0, tone=400)]
    options = CompileOptions(reencode_all=True, **FAST)
    result = compile_video(clips, tmp_path / "all.mp4", options)
    assert [(c.video, c.audio) for c in result.plan.clips] == [("encode", "encode")] * 2
    assert_valid(result, (160, 90))
    out_audio = set(_packet_hashes(Path(result.output), "audio"))
    assert not any(h in out_audio for h in _packet_hashes(clips[0], "audio")[1:])


def test_audio_rates_and_layouts_reencode_audio_only(make_clip, tmp_path):
    clips = [
        make_clip(seconds=1.5),
        make_clip(seconds=1.0, rate=44100, layout="mono"),
        make_clip(seconds=1.0, rate=22050),
        make_clip(seconds=1.0, audio_seconds=1.5),
    ]
    result = compile_video(clips, tmp_path / "rates.mp4", CompileOptions(**FAST))
    assert [c.video for c in result.plan.clips] == ["copy"] * 4
    assert [c.audio for c in result.plan.clips] == ["copy", "encode", "encode", "encode"]
    assert any("out of step" in r for r in result.plan.clips[3].reasons)
    assert_valid(result, (160, 90))
    for clip in clips:
        assert_copied(clip, Path(result.output))


def test_stills_mixed_with_clips(make_clip, make_image, tmp_path):
    inputs = [
        ClipInput(path=make_clip(seconds=1.0)),
        ClipInput(path=make_image(150, 100), duration_s=0.5),
        ClipInput(path=make_image(100, 150, "jpg"), duration_s=0.7, zoom=True),
        ClipInput(path=make_clip(seconds=1.0, audio=False)),
    ]
    result = compile_video(inputs, tmp_path / "stills.mp4", CompileOptions(**FAST))
    assert [c.video for c in result.plan.clips] == ["copy", "render", "render", "copy"]
    assert result.plan.expected_duration_s == pytest.approx(3.2, abs=1e-6)
    summary = assert_valid(result, (160, 90))
    assert summary["frames"] == 96


def test_webm_output(make_clip, tmp_path):
    clips = [
        make_clip(seconds=1.0, codec="vp9"),
        make_clip(seconds=1.0),
        make_clip(seconds=1.0, codec="vp9", audio=False),
    ]
    result = compile_video(clips, tmp_path / "out.webm", CompileOptions(format="webm", **FAST))
    assert [c.video for c in result.plan.clips] == ["copy", "encode", "copy"]
    assert [s["codec"] for s in result.streams] == ["vp9", "opus"]
    assert_valid(result, (160, 90))


@pytest.mark.parametrize("name", ["truncated", "empty", "audio_only", "missing", "not_media"])
def test_bad_input_is_named_and_nothing_is_left_behind(make_clip, broken_media, tmp_path, name):
    bad = broken_media[name]
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError) as error:
        compile_video([make_clip(seconds=1.0), bad], out, CompileOptions(**FAST))
    assert str(bad) in str(error.value)
    assert not out.exists()
    assert no_leftovers(tmp_path)


def test_ffmpeg_time_bound_kills_and_cleans_up(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0), make_clip(width=320, height=180, seconds=2.0)]
    out = tmp_path / "slow.mp4"
    with pytest.raises(FFmpegTimeout):
        compile_video(clips, out, CompileOptions(timeout_s=0.05, preset="veryslow"))
    assert not out.exists()
    assert no_leftovers(tmp_path)


def test_existing_output_survives_a_failed_compile(make_clip, broken_media, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous")
    with pytest.raises(MediaError):
        compile_video([make_clip(seconds=1.0), broken_media["truncated"]], out)
    assert out.read_bytes() == b"previous"


def test_poster_and_strip(make_clip, tmp_path):
    clips = [make_clip(seconds=1.0, tone=t) for t in (300, 400)]
    options = CompileOptions(poster=True, thumbnail_strip=True, **FAST)
    result = compile_video(clips, tmp_path / "p.mp4", options)
    from PIL import Image

    assert Image.open(result.poster).size == (160, 90)
    assert Image.open(result.thumbnail_strip).size[0] == 8 * 160


def _top_level_boxes(path: Path) -> list[str]:
    import struct

    boxes, data = [], path.read_bytes()
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        boxes.append(kind.decode())
        pos += size
    return boxes


def test_mp4_index_is_at_the_front(make_clip, tmp_path):
    result = compile_video([make_clip(seconds=1.0)] * 3, tmp_path / "fast.mp4")
    boxes = _top_level_boxes(Path(result.output))
    assert boxes.index("moov") < boxes.index("mdat")


def test_full_range_inputs_are_brought_to_video_range(make_clip, make_image, tmp_path):
    """A JPEG still and a full-range clip come out in limited range, as the copied clip is."""
    full_range = tmp_path / "full.mp4"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-y", "-f", "lavfi", "-t", "1", "-i",
         "testsrc2=s=320x180:r=30", "-pix_fmt", "yuvj420p", "-c:v", "libx264", "-preset",
         "ultrafast", "-an", str(full_range)],
        check=True,
    )  # fmt: skip
    inputs = [
        ClipInput(path=make_clip(seconds=1.0, audio=False)),
        ClipInput(path=make_image(100, 150, "jpg"), duration_s=0.5),
        ClipInput(path=full_range),
    ]
    result = compile_video(inputs, tmp_path / "range.mp4", CompileOptions(**FAST))
    assert [c.video for c in result.plan.clips] == ["copy", "render", "encode"]
    assert_valid(result, (160, 90), audio=False)
    with av.open(result.output) as container:
        ranges = [frame.color_range for frame in container.decode(video=0)]
    full = 2  # AVCOL_RANGE_JPEG
    assert len(ranges) == 30 + 15 + 30 and full not in ranges, set(ranges)
