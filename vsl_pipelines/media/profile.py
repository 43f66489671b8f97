"""The output profile a compile targets (size, fps, codecs, audio) and the named size presets.

A clip is stream-copied only when its probe matches the profile exactly (`copy_mismatches`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from vsl_pipelines.media.errors import MediaError

if TYPE_CHECKING:  # probing needs PyAV; describing a profile does not
    from vsl_pipelines.media.probe import MediaProbe

OutputFormat = Literal["mp4", "webm", "avi"]
# How hard re-encoded parts are worked on; `encoders.QUALITY` maps each to a codec's settings.
Quality = Literal["draft", "standard", "high"]

SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "1080p": (1920, 1080),
    "landscape": (1920, 1080),
    "720p": (1280, 720),
    "vertical": (1080, 1920),
    "portrait": (1080, 1920),
    "square": (1080, 1080),
    "feed": (1080, 1350),
}
# AVI: MPEG-4 Part 2 (Xvid's tag) and MP3, the pairing AVI players have always decoded; AVI
# carries no presentation timestamps, so no B-frames, and the MP3 is encoded once (see `PART_AUDIO`).
VIDEO_CODEC = {"mp4": "h264", "webm": "vp9", "avi": "mpeg4"}
AUDIO_CODEC = {"mp4": "aac", "webm": "opus", "avi": "mp3"}
# The audio of parts joined by stream copy: MP3 frames carry encoder delay that AVI cannot
# signal, so AVI parts hold PCM (sample exact at every join) and the whole track is encoded once.
PART_AUDIO = {"avi": "pcm_s16le"}
COPYABLE_CONTAINERS = {
    "mp4": {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"},
    "webm": {"matroska,webm"},
    "avi": {"avi"},
}
X264_PROFILES = {
    "Baseline": "baseline",
    "Constrained Baseline": "baseline",
    "Main": "main",
    "High": "high",
}


def parse_size(value: str) -> tuple[int, int]:
    """`1920x1080` or a preset name (`vertical`, `square`, ...) -> (width, height)."""
    key = value.strip().lower()
    if key in SIZE_PRESETS:
        return SIZE_PRESETS[key]
    try:
        width, height = (int(part) for part in key.split("x"))
    except ValueError as exc:
        raise MediaError(
            f"size {value!r} is neither WxH nor one of {sorted(SIZE_PRESETS)}"
        ) from exc
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise MediaError(f"size {value!r} must be positive and even (yuv420p)")
    return width, height


# The renditions a script may ask for: landing pages and YouTube, Reels/Shorts/TikTok, feeds.
RENDITION_ASPECTS = ("16:9", "9:16", "1:1")


def parse_aspect(value: str) -> tuple[int, int]:
    """`9:16` -> (9, 16)."""
    try:
        width, height = (int(part) for part in value.strip().split(":"))
    except ValueError:
        raise MediaError(f"aspect {value!r} is not W:H (16:9, 9:16, 1:1)") from None
    if width <= 0 or height <= 0 or max(width, height) > 100:
        raise MediaError(f"aspect {value!r} must be two whole numbers from 1 to 100")
    return width, height


def same_aspect(width: int, height: int, aspect: tuple[int, int]) -> bool:
    """A `width` x `height` frame has `aspect` within a pixel (160x90 is 16:9, 854x480 too)."""
    return abs(width * aspect[1] - height * aspect[0]) <= max(aspect)


def frame_at_aspect(size: tuple[int, int], aspect: tuple[int, int]) -> tuple[int, int]:
    """The frame of `aspect` whose short side is `size`'s (even): a rendition of a 1920x1080
    video at 9:16 is 1080x1920, at 1:1 1080x1080 (what the platforms ask for), so no
    rendition has fewer lines across its short side than the clips have."""
    if same_aspect(*size, aspect):
        return size
    short = min(size)
    aw, ah = aspect
    if aw >= ah:
        return _even_side(short * aw / ah), short
    return short, _even_side(short * ah / aw)


def _even_side(value: float) -> int:
    return max(2, 2 * round(value / 2))


def parse_fps(value: str | float | Fraction) -> Fraction:
    """`30`, `29.97`, `30000/1001` -> an exact fraction (29.97 means NTSC 30000/1001)."""
    text = str(value).strip()
    ntsc = {
        "23.976": Fraction(24000, 1001),
        "29.97": Fraction(30000, 1001),
        "59.94": Fraction(60000, 1001),
    }
    if text in ntsc:
        return ntsc[text]
    try:
        fps = Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError) as exc:
        raise MediaError(f"fps {value!r} is not a number") from exc
    if fps <= 0 or fps > 240:
        raise MediaError(f"fps {value!r} out of range")
    return fps


class OutputProfile(BaseModel):
    """Everything a clip must share with the others to be concatenated by stream copy."""

    format: OutputFormat = "mp4"
    width: int
    height: int
    fps: str
    pix_fmt: str = "yuv420p"
    video_codec: str = "h264"
    video_profile: str | None = None
    time_base: str | None = None
    sps_id: int = 0  # H.264 parameter-set id of re-encodes: one the copied clips do not use
    has_audio: bool = True
    audio_codec: str = "aac"
    audio_profile: str | None = "LC"
    audio_rate: int = 48000
    audio_channels: int = 2
    source: str = "set by caller"

    @property
    def part_audio_codec(self) -> str:
        """The audio codec of the parts joined by stream copy (see `PART_AUDIO`)."""
        return PART_AUDIO.get(self.format, self.audio_codec)

    @property
    def fps_fraction(self) -> Fraction:
        return Fraction(self.fps)

    @property
    def frame_s(self) -> Fraction:
        return 1 / Fraction(self.fps)

    @property
    def audio_layout(self) -> str:
        return {1: "mono", 2: "stereo"}.get(self.audio_channels, f"{self.audio_channels}c")

    @property
    def timescale(self) -> int | None:
        return Fraction(self.time_base).denominator if self.time_base else None

    def video_mismatches(self, probe: MediaProbe) -> list[str]:
        """Why this clip's video cannot be stream-copied into the profile (empty: it can)."""
        reasons: list[str] = []
        if probe.container not in COPYABLE_CONTAINERS[self.format]:
            reasons.append(f"container {probe.container} cannot be copied into {self.format}")
        if probe.codec != self.video_codec:
            reasons.append(f"codec {probe.codec} != {self.video_codec}")
        if probe.rotation:
            reasons.append(f"rotated {probe.rotation} degrees")
        if (probe.width, probe.height) != (self.width, self.height):
            reasons.append(f"size {probe.width}x{probe.height} != {self.width}x{self.height}")
        if probe.sar_fraction != 1:
            reasons.append(f"sample aspect {probe.sar} != 1:1")
        if probe.pix_fmt != self.pix_fmt:
            reasons.append(f"pixel format {probe.pix_fmt} != {self.pix_fmt}")
        if probe.fps_fraction != self.fps_fraction:
            reasons.append(f"fps {probe.fps} != {self.fps}")
        elif self.format == "mp4" and self.time_base and probe.time_base_fraction:
            ticks = self.frame_s / Fraction(self.time_base)
            if ticks.denominator != 1:
                reasons.append(f"time base {probe.time_base} frames not exact in {self.time_base}")
        reasons.extend(join_mismatches(probe))
        return reasons

    def audio_mismatches(self, probe: MediaProbe) -> list[str]:
        """Why this clip's audio cannot be stream-copied (assumes it has audio)."""
        reasons: list[str] = []
        if probe.audio_codec != self.audio_codec:
            reasons.append(f"audio codec {probe.audio_codec} != {self.audio_codec}")
        elif self.audio_profile and probe.audio_profile != self.audio_profile:
            reasons.append(f"audio profile {probe.audio_profile} != {self.audio_profile}")
        if probe.audio_rate != self.audio_rate:
            reasons.append(f"audio rate {probe.audio_rate} != {self.audio_rate}")
        if probe.audio_channels != self.audio_channels:
            reasons.append(f"audio channels {probe.audio_channels} != {self.audio_channels}")
        if self.format == "mp4":
            reasons.extend(audio_join_mismatches(probe))
        video_s = probe.video_duration_s or probe.duration_s
        if probe.audio_duration_s is not None:
            slack = max(1024 / self.audio_rate, float(self.frame_s)) + 0.002
            if abs(probe.audio_duration_s - video_s) > slack:
                reasons.append(
                    f"audio {probe.audio_duration_s:.3f} s vs video {video_s:.3f} s (out of step)"
                )
        return reasons

    @property
    def x264_profile(self) -> str:
        return X264_PROFILES.get(self.video_profile or "", "high")


def join_mismatches(probe: MediaProbe) -> list[str]:
    """Why the clip's video packets cannot start a part of a join by stream copy: a join shows
    every packet from the first, so the first must be a keyframe (an IDR picture for H.264) and
    the first frame the file shows. A clip trimmed by stream copy between keyframes keeps the
    frames from the keyframe before its cut and hides them with an edit list, which no join
    can carry; its picture is re-encoded from its first shown frame."""
    if probe.video_preroll_s > 0:
        return [
            f"starts {probe.video_preroll_s:.3f} s after the keyframe it decodes from (an edit "
            "list hides the frames before it, a copy would show them)"
        ]
    if not probe.video_key_start:
        return ["does not start with a keyframe (IDR picture) it can be joined at"]
    return []


def audio_join_mismatches(probe: MediaProbe) -> list[str]:
    """Why the clip's audio cannot be joined packet for packet from its first frame on (MP4,
    whose audio is joined from the packet that starts with the picture, `concat.join_audio`):
    an edit list that starts it inside a packet (a trim: the hidden part would play, early), or
    no packet boundary where the picture starts (the audio starts after it, or before it by
    other than whole packets). Whole packets hidden before the first sample (AAC's encoder
    delay, declared by an edit list) are left out and need nothing."""
    if probe.audio_start_s is None or not probe.audio_packet_s or not probe.audio_rate:
        return []
    half_sample = 0.5 / probe.audio_rate
    if probe.audio_skip_s > half_sample:
        return [
            f"audio starts {probe.audio_skip_s * 1000:.1f} ms into a packet (an edit list hides "
            "the rest, a copy would play it early)"
        ]
    lead = probe.video_start_s - probe.audio_start_s
    if lead < -half_sample:
        return [f"audio starts {-lead:.3f} s after the picture"]
    packets = lead / probe.audio_packet_s
    if abs(packets - round(packets)) * probe.audio_packet_s > half_sample:
        return [f"audio starts {lead:.3f} s before the picture, not on a packet boundary"]
    return []
