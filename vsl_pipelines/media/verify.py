"""Checks a written output by decoding all of it: every frame's size, streams, durations, and
(advisory) that an MP4's header holds the H.264 parameter sets every keyframe needs.

Runs on the temporary file before it is moved into place, so a bad output is never published.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
from pydantic import BaseModel

from vsl_pipelines.media.avcc import AvcConfig, AvcConfigError, header_mismatch, parse_avcc
from vsl_pipelines.media.profile import OutputProfile


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

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.blocking]


def verify_output(
    path: Path, profile: OutputProfile, expected_duration_s: float, *, has_audio: bool
) -> Verification:
    """Decode `path` fully and compare it with what the plan promised."""
    started = time.perf_counter()
    checks: list[Check] = []
    frames = bad_frames = 0
    first_bad = ""
    video_end = 0.0
    audio_end: float | None = None
    decode_error = ""
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
        if vstreams:
            codec = vstreams[0].codec_context.name
            checks.append(Check(name="video codec", ok=codec == profile.video_codec, detail=codec))
            vstreams[0].thread_type = "AUTO"
        if astreams:
            codec = astreams[0].codec_context.name
            checks.append(Check(name="audio codec", ok=codec == profile.audio_codec, detail=codec))
        streams = vstreams[:1] + astreams[:1]
        header = _avc_header(vstreams[0]) if vstreams else None
        header_problem = ""
        try:
            for packet in container.demux(streams):
                keyframe = packet.is_keyframe and packet.stream.type == "video"
                if header and keyframe and not header_problem:
                    header_problem = _header_problem(bytes(packet), header, packet)
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        frames += 1
                        if (frame.width, frame.height) != (profile.width, profile.height):
                            bad_frames += 1
                            first_bad = first_bad or f"frame {frames}: {frame.width}x{frame.height}"
                        if frame.time is not None:
                            end = frame.time + float(profile.frame_s)
                            video_end = max(video_end, end)
                    elif isinstance(frame, av.AudioFrame) and frame.time is not None:
                        end = frame.time + frame.samples / frame.sample_rate
                        audio_end = max(audio_end or 0.0, end)
        except av.FFmpegError as exc:
            decode_error = str(exc)
    checks.append(Check(name="decodes", ok=not decode_error, detail=decode_error or "all packets"))
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
    size = f"{profile.width}x{profile.height}"
    checks.append(
        Check(
            name="every frame size",
            ok=frames > 0 and bad_frames == 0,
            detail=f"{frames} frames at {size}"
            if not bad_frames
            else f"{bad_frames} wrong, {first_bad}",
        )
    )
    frame_s = float(profile.frame_s)
    tolerance = frame_s + 0.002
    checks.append(
        Check(
            name="duration",
            ok=abs(video_end - expected_duration_s) <= tolerance,
            detail=f"video {video_end:.3f} s, expected {expected_duration_s:.3f} s",
        )
    )
    if has_audio:
        audio_tolerance = max(frame_s, 1024 / profile.audio_rate) + 0.002
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
        video_frames=frames,
        video_duration_s=round(video_end, 4),
        audio_duration_s=round(audio_end, 4) if audio_end is not None else None,
        seconds=round(time.perf_counter() - started, 3),
    )


def _avc_header(stream) -> AvcConfig | None:
    """The H.264 parameter sets of an MP4's sample description (None for other formats)."""
    extradata = stream.codec_context.extradata
    if stream.codec_context.name != "h264" or not extradata or extradata[0] != 1:
        return None
    try:
        return parse_avcc(extradata)
    except AvcConfigError:
        return None


def _header_problem(sample: bytes, header: AvcConfig, packet) -> str:
    try:
        problem = header_mismatch(sample, header)
    except (AvcConfigError, IndexError):
        problem = "unreadable slice header"
    when = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
    return f"keyframe at {when:.3f} s: {problem}" if problem else ""
