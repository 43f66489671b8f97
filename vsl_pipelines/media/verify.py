"""Checks a written output before it is published, at one of two levels.

Both levels read every packet of the output (no decoding) for what the container promises:
stream count and codecs, timestamps (decode order strictly increasing, no two frames shown at
once), a keyframe where each part starts and at its planned time, the H.264 parameter sets every
keyframe needs in the MP4 header (advisory), durations and audio in step with video.

- `full` decodes every frame and audio packet as well.
- `quick` decodes in proportion to what the compile did: what was encoded (a re-encoded clip, a
  still, the whole picture after captions, the whole audio after a soundtrack) completely, and
  for stream-copied parts only the first frames of each part, from a decoder started fresh at
  the part's keyframe with the header's parameter sets (as a player seeking there would). The
  copied frames in between are the clips' own packets, byte for byte, already probed.

Each part gets its own decoder at both levels, so a part that does not start with a keyframe
cannot borrow the previous part's pictures: its frames fail to come out and it is reported.
Runs on the temporary file before it is moved into place, so a bad output is never published.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import av
from pydantic import BaseModel

from vsl_pipelines.media.avcc import (
    AvcConfig,
    AvcConfigError,
    has_idr,
    header_mismatch,
    parse_avcc,
)
from vsl_pipelines.media.options import VerifyLevel
from vsl_pipelines.media.profile import OutputProfile

# Frames decoded from the keyframe of each stream-copied part at the quick level: the keyframe
# proves the part decodes from the header and gives its picture size; x264's default GOP (250
# frames) is longer than most clips, so "a GOP around each join" would be all of them.
JOIN_FRAMES = 1
JOIN_AUDIO_PACKETS = 1
# Samples in one audio frame: an audio track may end anywhere in its last frame.
AUDIO_FRAME_SAMPLES = {"mp3": 1152, "opus": 960}


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    blocking: bool = True  # a failed advisory check is reported, but the output is published


class Verification(BaseModel):
    ok: bool
    checks: list[Check]
    video_frames: int
    video_duration_s: float
    audio_duration_s: float | None
    seconds: float
    level: Literal["quick", "full"] = "full"
    decoded_frames: int = 0

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.blocking]


@dataclass(frozen=True)
class Segment:
    """A part of the output as the compile wrote it: where it starts on the output's timeline
    and whether its video and audio were encoded (decoded in full at the quick level)."""

    start_s: float
    video_encoded: bool = True
    audio_encoded: bool = True


@dataclass
class _Part:
    """One segment of one stream while reading: its decoder and what came out."""

    index: int
    decode_all: bool
    decoder: Any = None
    packets: int = 0
    fed: int = 0
    frames: int = 0


@dataclass
class _Stream:
    """What was read of one stream (video or audio) across all its parts."""

    kind: str
    stream: Any
    frame_s: float
    limit: int  # packets decoded from the start of a copied part
    time_base: float = 0.0
    packets: int = 0
    fed: int = 0
    frames: int = 0
    corrupt: int = 0
    bad_sizes: int = 0
    first_bad: str = ""
    error: str = ""
    end: float | None = None
    last_dts: int | None = None
    dts_problem: str = ""
    pts: list[int] = field(default_factory=list)
    firsts: dict[int, av.Packet] = field(default_factory=dict)
    part: _Part | None = None


def verify_output(
    path: Path,
    profile: OutputProfile,
    expected_duration_s: float,
    *,
    has_audio: bool,
    level: VerifyLevel = "full",
    segments: list[Segment] | None = None,
) -> Verification:
    """Read `path` at `level` and compare it with what the plan promised.

    `segments` (default: one, starting at 0) say where each part starts and what was encoded."""
    if level == "off":
        raise ValueError("verification level 'off' verifies nothing")
    started = time.perf_counter()
    parts = sorted(segments or [Segment(0.0)], key=lambda s: s.start_s)
    starts = [s.start_s for s in parts]
    frame_s = float(profile.frame_s)
    checks: list[Check] = []
    with av.open(str(path)) as container:
        vstreams = list(container.streams.video)
        astreams = list(container.streams.audio)
        checks.append(
            Check(name="one video stream", ok=len(vstreams) == 1, detail=f"{len(vstreams)}")
        )
        checks.append(
            Check(
                name="audio stream",
                ok=len(astreams) == (1 if has_audio else 0),
                detail=f"{len(astreams)} (expected {1 if has_audio else 0})",
            )
        )
        tracks: list[_Stream] = []
        if vstreams:
            codec = vstreams[0].codec_context.codec.canonical_name  # mp3, not its mp3float
            ok = codec == profile.video_codec
            checks.append(Check(name="video codec", ok=ok, detail=codec))
            tracks.append(_Stream("video", vstreams[0], frame_s, JOIN_FRAMES))
        if astreams:
            codec = astreams[0].codec_context.codec.canonical_name
            ok = codec == profile.audio_codec
            checks.append(Check(name="audio codec", ok=ok, detail=codec))
            tracks.append(
                _Stream("audio", astreams[0], _audio_frame_s(profile), JOIN_AUDIO_PACKETS)
            )
        header = _avc_header(vstreams[0]) if vstreams else None
        header_problem = ""
        video = tracks[0] if vstreams else None
        origin = _origin(vstreams[0]) if vstreams else 0.0
        by_index = {t.stream.index: t for t in tracks}
        for track in tracks:
            track.time_base = float(track.stream.time_base)
        for packet in container.demux([t.stream for t in tracks]):
            track = by_index[packet.stream_index]
            pts = packet.pts
            if pts is None or packet.size == 0:
                continue
            when = pts * track.time_base - origin
            number = max(0, bisect.bisect_right(starts, when + frame_s / 2) - 1)
            if track is video and header and packet.is_keyframe and not header_problem:
                header_problem = _header_problem(bytes(packet), header, when + origin)
            segment = parts[number]
            decode_all = level == "full" or (
                segment.video_encoded if track.kind == "video" else segment.audio_encoded
            )
            _read(track, packet, number, decode_all, profile, when)
        for track in tracks:
            _finish_part(track, profile)
    checks.append(_timestamps_check(video, tracks[1] if len(tracks) > 1 else None, frame_s))
    if video is not None:
        length_size = header.length_size if header else None
        checks.append(_joins_check(video, parts, origin, frame_s, length_size))
    checks.append(_decodes_check(tracks, level))
    if header is not None:
        checks.append(
            Check(
                name="parameter sets in header",
                ok=not header_problem,
                detail=header_problem
                or f"every keyframe decodes from the MP4 header's {len(header.sps)} SPS",
                blocking=False,  # players that honour in-band parameter sets still play it
            )
        )
    decoded = video.frames if video else 0
    size = f"{profile.width}x{profile.height}"
    if video is not None and video.bad_sizes:
        size_detail = f"{video.bad_sizes} wrong, {video.first_bad}"
    else:
        size_detail = f"{decoded} frames at {size}"
        if video is not None and decoded < video.packets:
            size_detail += f" decoded ({video.packets - decoded} stream-copied frames not decoded)"
    checks.append(
        Check(
            name="every frame size",
            ok=video is not None and decoded > 0 and not video.bad_sizes,
            detail=size_detail,
        )
    )
    video_end = (video.end or 0.0) if video else 0.0
    checks.append(
        Check(
            name="duration",
            ok=abs(video_end - expected_duration_s) <= frame_s + 0.002,
            detail=f"video {video_end:.3f} s, expected {expected_duration_s:.3f} s",
        )
    )
    audio_end = tracks[-1].end if astreams and tracks[-1].kind == "audio" else None
    if has_audio:
        audio_tolerance = max(frame_s, _audio_frame_s(profile)) + 0.002
        checks.append(
            Check(
                name="audio in step",
                ok=audio_end is not None and abs(audio_end - video_end) <= audio_tolerance,
                detail=f"audio ends {audio_end or 0:.3f} s, video {video_end:.3f} s",
            )
        )
    return Verification(
        ok=all(c.ok for c in checks if c.blocking),
        checks=checks,
        video_frames=video.packets if video else 0,
        video_duration_s=round(video_end, 4),
        audio_duration_s=round(audio_end, 4) if audio_end is not None else None,
        seconds=round(time.perf_counter() - started, 3),
        level=level,
        decoded_frames=decoded,
    )


def _origin(stream) -> float:
    """Where the video's timeline starts (an MP4 edit list may shift it off zero)."""
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _read(
    track: _Stream, packet, number: int, decode_all: bool, profile: OutputProfile, when: float
) -> None:
    """Account one packet: timestamps, its part (a new part gets a fresh decoder), decoding."""
    track.packets += 1
    if packet.dts is not None:
        if track.last_dts is not None and packet.dts <= track.last_dts and not track.dts_problem:
            track.dts_problem = (
                f"{track.kind} decode time goes from {track.last_dts} to {packet.dts} "
                f"(at {when:.3f} s)"
            )
        track.last_dts = packet.dts
    if track.kind == "video":
        track.pts.append(packet.pts)
    duration = packet.duration
    length = duration * track.time_base if duration else track.frame_s
    track.end = max(track.end or 0.0, when + length)
    part = track.part
    if part is None or part.index != number:
        _finish_part(track, profile)
        part = track.part = _Part(index=number, decode_all=decode_all)
        track.firsts.setdefault(number, packet)
    part.packets += 1
    if not (part.decode_all or part.packets <= track.limit) or track.error:
        return
    if part.decoder is None:
        part.decoder = _decoder(track.stream, threaded=part.decode_all)
    part.fed += 1
    track.fed += 1
    try:
        frames = part.decoder.decode(packet)
    except av.FFmpegError as exc:
        track.error = f"{track.kind} at {when:.3f} s: {exc}"
        return
    _count(track, part, frames, profile)


def _finish_part(track: _Stream, profile: OutputProfile) -> None:
    """Flush the decoder of the part just read: the frames it still holds come out."""
    part = track.part
    if part is None or part.decoder is None or track.error:
        return
    try:
        frames = part.decoder.decode(None)
    except av.FFmpegError as exc:
        track.error = f"{track.kind} part {part.index + 1}: {exc}"
        return
    finally:
        part.decoder = None
    _count(track, part, frames, profile)
    if track.kind == "video" and part.frames < part.fed and not track.error:
        track.error = (
            f"part {part.index + 1}: {part.fed} video packets gave {part.frames} frames "
            "(a reference picture is missing)"
        )


def _count(track: _Stream, part: _Part, frames, profile: OutputProfile) -> None:
    for frame in frames:
        part.frames += 1
        track.frames += 1
        track.corrupt += bool(frame.is_corrupt)
        if track.kind == "video" and (frame.width, frame.height) != (profile.width, profile.height):
            track.bad_sizes += 1
            track.first_bad = track.first_bad or (
                f"part {part.index + 1}: {frame.width}x{frame.height}"
            )


def _decoder(stream, *, threaded: bool):
    """A fresh decoder for `stream`, knowing only what the container's header says."""
    template = stream.codec_context
    decoder = av.CodecContext.create(template.name, "r")
    if template.extradata:
        decoder.extradata = template.extradata
    if stream.type == "audio":
        decoder.sample_rate = template.sample_rate
        decoder.layout = template.layout
    elif threaded:
        decoder.thread_type = "AUTO"
    else:
        decoder.thread_count = 1  # a few frames: a thread pool would cost more than it saves
    return decoder


def _timestamps_check(video: _Stream | None, audio: _Stream | None, frame_s: float) -> Check:
    """Decode order strictly increasing in each stream, and no two frames shown at once (what
    FFmpeg leaves when it repairs a non-monotonic join: frames squeezed one tick apart)."""
    problem = next((t.dts_problem for t in (video, audio) if t and t.dts_problem), "")
    if not problem and video is not None and video.pts:
        shown = sorted(video.pts)
        base = video.time_base
        half = frame_s / 2 / base
        for before, after in pairwise(shown):
            if after - before < half:
                problem = (
                    f"video frames at {before * base:.4f} s and {after * base:.4f} s "
                    "are less than half a frame apart"
                )
                break
    counts = ", ".join(f"{t.packets} {t.kind}" for t in (video, audio) if t is not None)
    return Check(
        name="timestamps", ok=not problem, detail=problem or f"in order ({counts} packets)"
    )


def _joins_check(
    video: _Stream, parts: list[Segment], origin: float, frame_s: float, length_size: int | None
) -> Check:
    """Each part starts, in decode order, with a keyframe (an IDR picture for H.264) at its
    planned time: a stream-copied part that does not would show another part's pictures."""
    problems: list[str] = []
    for number, segment in enumerate(parts):
        packet = video.firsts.get(number)
        where = f"part {number + 1} at {segment.start_s:.3f} s"
        if packet is None:
            problems.append(f"{where}: no video")
            continue
        when = (packet.pts or 0) * video.time_base - origin
        if not packet.is_keyframe:
            problems.append(f"{where} starts with a frame that is not a keyframe ({when:.3f} s)")
        elif length_size and not has_idr(bytes(packet), length_size):
            problems.append(f"{where} starts with a keyframe that is not an IDR picture")
        elif abs(when - segment.start_s) > frame_s / 2 + 0.002:
            problems.append(f"{where} starts at {when:.3f} s")
    return Check(
        name="keyframes at joins",
        ok=not problems,
        detail="; ".join(problems[:3]) or f"{len(parts)} parts, each starts with a keyframe",
    )


def _decodes_check(tracks: list[_Stream], level: VerifyLevel) -> Check:
    errors = [t.error for t in tracks if t.error]
    errors += [f"{t.corrupt} corrupt {t.kind} frames" for t in tracks if t.corrupt]
    if errors:
        return Check(name="decodes", ok=False, detail="; ".join(errors))
    if level == "full":
        detail = "all packets"
    else:
        detail = ", ".join(f"{t.fed} of {t.packets} {t.kind} packets" for t in tracks)
    return Check(name="decodes", ok=True, detail=detail)


def _avc_header(stream) -> AvcConfig | None:
    """The H.264 parameter sets of an MP4's sample description (None for other formats)."""
    extradata = stream.codec_context.extradata
    if stream.codec_context.name != "h264" or not extradata or extradata[0] != 1:
        return None
    try:
        return parse_avcc(extradata)
    except AvcConfigError:
        return None


def _header_problem(sample: bytes, header: AvcConfig, when: float) -> str:
    try:
        problem = header_mismatch(sample, header)
    except (AvcConfigError, IndexError):
        problem = "unreadable slice header"
    return f"keyframe at {when:.3f} s: {problem}" if problem else ""


def _audio_frame_s(profile: OutputProfile) -> float:
    return AUDIO_FRAME_SAMPLES.get(profile.audio_codec, 1024) / profile.audio_rate
