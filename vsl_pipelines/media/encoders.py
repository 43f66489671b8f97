"""Encoder arguments for the output profile: libx264/AAC for MP4, libvpx-vp9/Opus for WebM.

Re-encoded clips use the reference clip's H.264 profile so they sit well beside copied ones.
"""

from __future__ import annotations

from vsl_pipelines.media.profile import OutputProfile

FAST_PRESETS = {"ultrafast", "superfast", "veryfast", "faster", "fast"}


def video_encoder_args(profile: OutputProfile, preset: str, crf: int | None) -> list[str]:
    if profile.video_codec == "vp9":
        speed = ["-deadline", "realtime", "-cpu-used", "8"] if preset in FAST_PRESETS else [
            "-deadline", "good", "-cpu-used", "2"]  # fmt: skip
        return ["-c:v", "libvpx-vp9", "-crf", str(crf or 32), "-b:v", "0", "-row-mt", "1",
                *speed, "-pix_fmt", "yuv420p"]  # fmt: skip
    args = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf or 20), "-pix_fmt", "yuv420p"]
    args += ["-color_range", "tv"]
    args += ["-profile:v", profile.x264_profile]
    if profile.sps_id:
        args += ["-x264-params", f"sps-id={profile.sps_id}"]
    return args


def audio_encoder_args(profile: OutputProfile) -> list[str]:
    if profile.audio_codec == "opus":
        return [
            "-c:a",
            "libopus",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            str(profile.audio_channels),
        ]
    return ["-c:a", "aac", "-b:a", "192k", "-ar", str(profile.audio_rate),
            "-ac", str(profile.audio_channels)]  # fmt: skip


def muxer_args(profile: OutputProfile, *, faststart: bool = False) -> list[str]:
    if profile.format == "webm":
        return ["-f", "webm"]
    args = ["-f", "mp4"]
    if profile.timescale:
        args += ["-video_track_timescale", str(profile.timescale)]
    if faststart:
        args += ["-movflags", "+faststart"]
    return args
