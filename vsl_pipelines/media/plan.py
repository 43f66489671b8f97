"""Decides, before any work, the output profile and per clip what is copied or re-encoded and why.

The plan is pure data from probes and options; `compile.py` carries it out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from vsl_pipelines.media.avcc import ParameterSets
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.media.probe import MediaProbe
from vsl_pipelines.media.profile import (
    AUDIO_CODEC,
    COPYABLE_CONTAINERS,
    VIDEO_CODEC,
    OutputProfile,
    parse_fps,
    parse_size,
)

VideoAction = Literal["copy", "encode", "render"]
AudioAction = Literal["copy", "encode", "silence", "none"]


class ClipPlan(BaseModel):
    index: int
    path: str
    kind: str
    video: VideoAction
    audio: AudioAction
    reasons: list[str]
    duration_s: float
    start_s: float = 0.0
    caption: str | None = None
    zoom: bool = False

    @property
    def copied(self) -> bool:
        return self.video == "copy" and self.audio in ("copy", "none")


class CompilePlan(BaseModel):
    profile: OutputProfile
    mode: Literal["concat", "transitions"]
    clips: list[ClipPlan]
    transition: str | None = None
    transition_s: float = 0.0
    expected_duration_s: float
    notes: list[str] = []

    @property
    def copied(self) -> list[ClipPlan]:
        return [c for c in self.clips if c.copied]

    @property
    def reencoded(self) -> list[ClipPlan]:
        return [c for c in self.clips if not c.copied]

    def summary(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "copied": len(self.copied),
            "touched": len(self.reencoded),
            "expected_duration_s": round(self.expected_duration_s, 3),
            "notes": self.notes,
        }


K = TypeVar("K")


def _heaviest(weights: dict[K, float]) -> K:
    """The key with the largest weight (total duration); the first seen wins a tie."""
    return max(weights, key=lambda k: weights[k])


def _video_key(p: MediaProbe) -> tuple[str | None, int, int, str | None, str | None]:
    return (p.codec, p.width, p.height, p.pix_fmt, p.fps)


def _even(value: int) -> int:
    return max(2, value - value % 2)


def choose_profile(probes: Sequence[MediaProbe], options: CompileOptions) -> OutputProfile:
    """The caller's size/fps/format where set; otherwise the most common input profile by duration."""
    fmt = options.format
    size = parse_size(options.size) if options.size else None
    fps = parse_fps(options.fps) if options.fps else None
    videos = [p for p in probes if p.kind == "video"]

    copyable: dict[tuple, float] = defaultdict(float)
    for p in videos:
        if (
            p.container in COPYABLE_CONTAINERS[fmt]
            and p.codec == VIDEO_CODEC[fmt]
            and p.rotation == 0
            and p.sar_fraction == 1
            and p.pix_fmt == "yuv420p"
            and (size is None or (p.width, p.height) == size)
            and (fps is None or p.fps_fraction == fps)
        ):
            copyable[_video_key(p)] += p.duration_s
    audio = _choose_audio(videos, fmt)
    if copyable:
        key = _heaviest(copyable)
        members = [p for p in videos if _video_key(p) == key]
        time_base = Counter(p.time_base for p in members).most_common(1)[0][0]
        profile_name = Counter(p.profile for p in members).most_common(1)[0][0]
        return OutputProfile(
            format=fmt,
            width=key[1],
            height=key[2],
            fps=key[4],
            pix_fmt="yuv420p",
            video_codec=VIDEO_CODEC[fmt],
            video_profile=profile_name,
            time_base=time_base,
            source=f"common profile of {len(members)} of {len(probes)} inputs",
            **audio,
        )
    if size is None:
        sized: dict[tuple[int, int], float] = defaultdict(float)
        for p in videos or probes:
            if p.display_width and p.display_height:
                sized[(p.display_width, p.display_height)] += p.duration_s or 1.0
        if not sized:
            raise MediaError("no input has a picture to size the output from")
        w, h = _heaviest(sized)
        size = (_even(w), _even(h))
    if fps is None:
        rates: dict[Fraction, float] = defaultdict(float)
        for p in videos:
            if p.fps_fraction:
                rates[p.fps_fraction] += p.duration_s
        fps = _heaviest(rates) if rates else Fraction(30)
    return OutputProfile(
        format=fmt,
        width=size[0],
        height=size[1],
        fps=str(fps),
        video_codec=VIDEO_CODEC[fmt],
        time_base=str(1 / (fps * 512)) if fmt == "mp4" else None,
        source="set by caller" if options.size or options.fps else "derived (no input matches)",
        **audio,
    )


def _choose_audio(videos: Sequence[MediaProbe], fmt: str) -> dict[str, Any]:
    with_audio = [p for p in videos if p.has_audio]
    codec = AUDIO_CODEC[fmt]
    spec: dict[str, Any] = {
        "has_audio": bool(with_audio),
        "audio_codec": codec,
        "audio_profile": "LC" if codec == "aac" else None,
        "audio_rate": 48000,
        "audio_channels": 2,
    }
    weights: dict[tuple, float] = defaultdict(float)
    for p in with_audio:
        if p.audio_codec == codec and p.audio_channels in (1, 2):
            weights[(p.audio_rate, p.audio_channels, p.audio_profile)] += p.duration_s
    if weights:
        rate, channels, profile = _heaviest(weights)
        spec.update(audio_rate=rate, audio_channels=channels, audio_profile=profile)
    return spec


def seeded_parameter_sets(profile: OutputProfile, probes: Sequence[MediaProbe]) -> ParameterSets:
    """Parameter sets seeded with those most of the copyable video (by duration) uses, so a
    clip whose sets clash with them (same id, other content: another encoder) is re-encoded."""
    weights: dict[str, float] = defaultdict(float)
    for p in probes:
        if p.kind == "video" and p.h264_config and not profile.video_mismatches(p):
            weights[p.h264_config] += p.duration_s
    sets = ParameterSets()
    if weights:
        sets.admit(bytes.fromhex(_heaviest(weights)))
    return sets


def frames_for(seconds: float, fps: Fraction) -> int:
    return max(1, round(Fraction(seconds) * fps))


def plan_compile(
    inputs: Sequence[ClipInput], probes: Sequence[MediaProbe], options: CompileOptions
) -> CompilePlan:
    """Per clip: copy when it matches the profile, else re-encode (or render a still), with reasons."""
    profile = choose_profile(probes, options)
    copied_sets = seeded_parameter_sets(profile, probes) if profile.video_codec == "h264" else None
    fps = profile.fps_fraction
    transitions = options.transition is not None and len(inputs) > 1
    clips: list[ClipPlan] = []
    for index, (clip, probe) in enumerate(zip(inputs, probes, strict=True)):
        if probe.kind == "audio":
            raise MediaError(
                "audio-only file cannot be a clip (use it as the soundtrack)", probe.path
            )
        reasons: list[str] = []
        if probe.kind == "image":
            seconds = clip.duration_s or options.still_duration_s
            duration = float(frames_for(seconds, fps) / fps)
            video: VideoAction = "render"
            reasons.append(f"still image shown {duration:.3f} s")
        else:
            reasons = profile.video_mismatches(probe)
            if options.reencode_all:
                reasons.append("re-encode of every clip requested")
            if transitions:
                reasons.append(f"{options.transition.type} transition re-encodes every clip")  # type: ignore[union-attr]
            video = "encode" if reasons else "copy"
            clash = copied_sets.admit(probe.h264_record) if copied_sets and not reasons else None
            if clash:
                reasons.append(clash)
                video = "encode"
            source_s = probe.video_duration_s or probe.duration_s
            duration = source_s if video == "copy" else float(frames_for(source_s, fps) / fps)
        audio: AudioAction
        if not profile.has_audio:
            audio = "none"
        elif not probe.has_audio:
            audio = "silence"
            reasons.append("no audio track: silent track added")
        elif video == "render" or transitions or options.reencode_all:
            audio = "encode"
        elif profile.part_audio_codec != profile.audio_codec:
            audio = "encode"
            reasons.append(f"audio joined as {profile.part_audio_codec}, encoded once after")
        else:
            # A re-encoded picture keeps its audio by stream copy when that matches too: an AAC
            # encode costs a generation of quality and 0.05-0.3 s per 4 s clip (measured).
            audio_reasons = profile.audio_mismatches(probe)
            audio = "encode" if audio_reasons else "copy"
            reasons.extend(audio_reasons)
        if video == "copy" and not reasons:
            reasons.append("matches the output profile")
        clips.append(
            ClipPlan(
                index=index,
                path=probe.path,
                kind=probe.kind,
                video=video,
                audio=audio,
                reasons=reasons,
                duration_s=duration,
                caption=clip.caption if options.captions else None,
                zoom=clip.zoom if clip.zoom is not None else options.still_zoom,
            )
        )
    videos = {c.video for c in clips}
    if copied_sets and "copy" in videos and len(videos) > 1:
        profile.sps_id = copied_sets.free_id()
    overlap = options.transition.seconds if transitions and options.transition else 0.0
    if transitions:
        shortest = min(c.duration_s for c in clips)
        if overlap >= shortest:
            raise MediaError(
                f"transition of {overlap} s is not shorter than the shortest clip ({shortest:.3f} s)"
            )
    start = 0.0
    for clip_plan in clips:
        clip_plan.start_s = start
        start += clip_plan.duration_s - overlap
    expected = sum(c.duration_s for c in clips) - overlap * (len(clips) - 1)
    return CompilePlan(
        profile=profile,
        mode="transitions" if transitions else "concat",
        clips=clips,
        transition=options.transition.type if transitions and options.transition else None,
        transition_s=overlap,
        expected_duration_s=expected,
    )
