"""Decides, before any work, the output profile and per clip what is copied or re-encoded and why.

The plan is pure data from probes and options; `compile.py` and `joins.py` carry it out.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from vsl_pipelines.media.avcc import ParameterSets
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import ClipInput, CompileOptions, Reframe
from vsl_pipelines.media.probe import MediaProbe
from vsl_pipelines.media.profile import (
    AUDIO_CODEC,
    COPYABLE_CONTAINERS,
    VIDEO_CODEC,
    OutputProfile,
    frame_at_aspect,
    parse_aspect,
    parse_fps,
    parse_size,
    same_aspect,
)

VideoAction = Literal["copy", "encode", "render"]
SLACK_S = 0.01  # how much shorter than asked a narrated section's pad may come out (rounding)
AudioAction = Literal["copy", "encode", "silence", "none"]
# What a narrated section does to its picture: a clip is cut to the voice ("trim"), stretched
# to it ("hold", "slow", "loop"), or already fits ("none"); a still is shown as long ("still").
TimingAction = Literal["hold", "slow", "loop", "trim", "none", "still"]


class ClipTiming(BaseModel):
    """How a narrated section's length was set from its voice, and what that did to the clip."""

    voice_s: float
    clip_s: float | None  # the clip's own length; None for a still
    section_s: float  # the section's length on the output's timeline (whole frames)
    action: TimingAction
    slowdown: float = 1.0  # the picture plays this many times slower ("slow")
    held_s: float = 0.0  # its last frame is shown this long at the end ("hold", "slow")
    reason: str


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
    reframe: Reframe = "fit"  # how its picture fills a frame of another aspect
    # Where its subject is (fractions of its picture), which a crop is centred on; set by the
    # compile for a clip cropped into another aspect (`focus.focus_point`).
    focus: tuple[float, float] = (0.5, 0.5)
    title: str | None = None  # the section's name (a chapter)
    narration: str | None = None  # the voice's file, placed at `start_s`
    timing: ClipTiming | None = None

    @property
    def fitted(self) -> bool:
        """The clip's picture is cut or stretched to its voice (played differently)."""
        return self.timing is not None and self.timing.action in ("hold", "slow", "loop", "trim")

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
    aspect = parse_aspect(options.aspect) if options.aspect else None
    if size is not None and aspect is not None:
        size = frame_at_aspect(size, aspect)
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
            and (aspect is None or same_aspect(p.width, p.height, aspect))
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
        if aspect is not None:
            size = frame_at_aspect(size, aspect)
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
        source=(
            "set by caller"
            if options.size or options.fps
            else f"{options.aspect} rendition of the common size"
            if aspect
            else "derived (no input matches)"
        ),
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


def voice_seconds(voice: MediaProbe) -> float:
    return voice.audio_duration_s or voice.duration_s


def fit_to_voice(
    clip_s: float | None, voice_s: float, options: CompileOptions, fps: Fraction, overlap: float
) -> ClipTiming:
    """The section's length from its voice and how the clip (or still, `clip_s` None) fills it.

    The section lasts the voice plus the pad (plus the transition's overlap, so the next
    section's voice starts only after this one ended), rounded up to whole frames so the pad is
    never shorter than asked. A clip within a frame of that keeps its length (and so may be
    stream-copied); a longer one is cut; a shorter one is stretched as `options.voice.fit` says.
    """
    timing = options.voice
    # Up to 10 ms of pad may be lost to the rounding, which no one hears: without it a voice
    # ending a fraction of a millisecond past a frame cost a whole frame (167 ms at 6 fps).
    frames = math.ceil(Fraction(voice_s + timing.pad_s + overlap - SLACK_S) * fps)
    section = float(max(1, frames) / fps)
    need = f"voice {voice_s:.2f} s + pad {timing.pad_s:.2f} s"
    need += f" + transition {overlap:.2f} s" if overlap else ""
    if clip_s is None:
        return ClipTiming(
            voice_s=voice_s, clip_s=None, section_s=section, action="still",
            reason=f"still shown for {need}: {section:.3f} s",
        )  # fmt: skip
    frame = float(1 / fps)
    if abs(clip_s - section) <= frame + 1e-6:
        return ClipTiming(
            voice_s=voice_s, clip_s=clip_s, section_s=clip_s, action="none",
            reason=f"clip {clip_s:.2f} s fits {need} within a frame",
        )  # fmt: skip
    if clip_s > section:
        return ClipTiming(
            voice_s=voice_s, clip_s=clip_s, section_s=section, action="trim",
            reason=f"clip {clip_s:.2f} s > {need}: cut to {section:.2f} s",
        )  # fmt: skip
    short = f"clip {clip_s:.2f} s < {need}"
    if timing.fit == "loop":
        return ClipTiming(
            voice_s=voice_s, clip_s=clip_s, section_s=section, action="loop",
            reason=f"{short}: played {section / clip_s:.2f} times from the start",
        )  # fmt: skip
    slowdown = min(timing.max_slowdown, section / clip_s) if timing.fit == "slow" else 1.0
    held = max(0.0, section - clip_s * slowdown)
    if held < frame / 2:
        held = 0.0
    if slowdown > 1.0:
        reason = f"{short}: slowed x{slowdown:.2f} (to {clip_s * slowdown:.2f} s)"
        reason += f", last frame held {held:.2f} s" if held else ""
    else:
        reason = f"{short}: last frame held {held:.2f} s"
    return ClipTiming(
        voice_s=voice_s, clip_s=clip_s, section_s=section,
        action="slow" if slowdown > 1.0 else "hold",
        slowdown=round(slowdown, 4), held_s=round(held, 4), reason=reason,
    )  # fmt: skip


def plan_compile(
    inputs: Sequence[ClipInput],
    probes: Sequence[MediaProbe],
    options: CompileOptions,
    voices: Sequence[MediaProbe | None] | None = None,
) -> CompilePlan:
    """Per clip: copy when it matches the profile, else re-encode (or render a still), with reasons.

    `voices` are the probes of the inputs' narrations (None where a section has none): a
    narrated section lasts as long as its voice (`fit_to_voice`)."""
    voices = list(voices) if voices is not None else [None] * len(inputs)
    profile = choose_profile(probes, options)
    if any(voices):
        profile.has_audio = True  # the voices need a track even when no clip has sound
    copied_sets = seeded_parameter_sets(profile, probes) if profile.video_codec == "h264" else None
    fps = profile.fps_fraction
    transitions = options.transition is not None and len(inputs) > 1
    overlap = options.transition.seconds if transitions and options.transition else 0.0
    clips: list[ClipPlan] = []
    for index, (clip, probe, voice) in enumerate(zip(inputs, probes, voices, strict=True)):
        if probe.kind == "audio":
            raise MediaError(
                "audio-only file cannot be a clip (use it as the soundtrack)", probe.path
            )
        reasons: list[str] = []
        timing: ClipTiming | None = None
        if voice is not None:
            last = index == len(inputs) - 1
            clip_s = None if probe.kind == "image" else probe.video_duration_s or probe.duration_s
            timing = fit_to_voice(
                clip_s, voice_seconds(voice), options, fps, 0.0 if last else overlap
            )
        if probe.kind == "image":
            seconds = timing.section_s if timing else clip.duration_s or options.still_duration_s
            duration = float(frames_for(seconds, fps) / fps)
            video: VideoAction = "render"
            reasons.append(f"still image shown {duration:.3f} s")
            if timing:
                reasons.append(timing.reason)
        else:
            reasons = profile.video_mismatches(probe)
            if options.reencode_all:
                reasons.append("re-encode of every clip requested")
            if transitions:
                reasons.append(f"{options.transition.type} transition re-encodes every clip")  # type: ignore[union-attr]
            source_s = probe.video_duration_s or probe.duration_s
            if timing is not None and timing.action != "none":
                # The picture is cut or stretched to the voice: not the clip's own packets.
                reasons.append(timing.reason)
                source_s = timing.section_s
            video = "encode" if reasons else "copy"
            clash = copied_sets.admit(probe.h264_record) if copied_sets and not reasons else None
            if clash:
                reasons.append(clash)
                video = "encode"
            if timing is not None and timing.action == "none":
                reasons.append(timing.reason)
            duration = source_s if video == "copy" else float(frames_for(source_s, fps) / fps)
        fitted = timing is not None and timing.action in ("hold", "slow", "loop", "trim")
        audio: AudioAction
        if not profile.has_audio:
            audio = "none"
        elif not probe.has_audio:
            audio = "silence"
            reasons.append("no audio track: silent track added")
        elif video == "render" or transitions or options.reencode_all or fitted:
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
        if video == "copy" and (not reasons or (timing and reasons == [timing.reason])):
            reasons.insert(0, "matches the output profile")
        clips.append(
            ClipPlan(
                index=index,
                path=probe.path,
                kind=probe.kind,
                video=video,
                audio=audio,
                reasons=reasons,
                duration_s=duration,
                caption=clip.caption,
                zoom=clip.zoom if clip.zoom is not None else options.still_zoom,
                reframe=clip.reframe or options.reframe,
                title=clip.title,
                narration=voice.path if voice is not None else None,
                timing=timing,
            )
        )
    videos = {c.video for c in clips}
    if copied_sets and "copy" in videos and len(videos) > 1:
        profile.sps_id = copied_sets.free_id()
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
