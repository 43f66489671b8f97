"""Encoder arguments for the output profile: libx264/AAC for MP4, libvpx-vp9/Opus for WebM,
MPEG-4 Part 2/MP3 for AVI, each at the quality asked for (`QUALITY`).

Re-encoded clips use the reference clip's H.264 profile so they sit well beside copied ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsl_pipelines.media.profile import OutputProfile, Quality

FAST_PRESETS = {"ultrafast", "superfast", "veryfast", "faster", "fast"}
# LAME's encoder delay (576) plus the decoder's (529), as FFmpeg's libmp3lame wrapper reports
# it. AVI cannot signal it, so players start the audio this late unless it is trimmed first.
MP3_PRIMING_SAMPLES = 1105


@dataclass(frozen=True)
class EncodeSettings:
    """One quality level: x264 preset and CRF, VP9 speed and CRF, MPEG-4 Part 2 quantizer,
    audio bitrate in kbit/s per codec."""

    x264_preset: str
    x264_crf: int
    vp9_crf: int
    vp9_realtime: bool
    mpeg4_qscale: int
    audio_kbps: dict[str, int]


# `standard` is what every compile used before quality could be chosen.
QUALITY: dict[Quality, EncodeSettings] = {
    "draft": EncodeSettings("superfast", 28, 40, True, 8, {"aac": 128, "opus": 96, "mp3": 128}),
    "standard": EncodeSettings("veryfast", 20, 32, True, 4, {"aac": 192, "opus": 128, "mp3": 192}),
    "high": EncodeSettings("slow", 17, 28, False, 2, {"aac": 256, "opus": 160, "mp3": 256}),
}


def video_encoder_args(
    profile: OutputProfile,
    preset: str | None = None,
    crf: int | None = None,
    quality: Quality = "standard",
) -> list[str]:
    """`preset` (x264; for VP9 a fast one means realtime) and `crf` override the quality's."""
    settings = QUALITY[quality]
    if profile.video_codec == "vp9":
        realtime = preset in FAST_PRESETS if preset else settings.vp9_realtime
        speed = ["-deadline", "realtime", "-cpu-used", "8"] if realtime else [
            "-deadline", "good", "-cpu-used", "2"]  # fmt: skip
        return ["-c:v", "libvpx-vp9", "-crf", str(crf or settings.vp9_crf), "-b:v", "0",
                "-row-mt", "1", *speed, "-pix_fmt", "yuv420p"]  # fmt: skip
    if profile.video_codec == "mpeg4":
        # A fixed quantizer (2 best .. 31 worst), no B-frames (AVI has no presentation times).
        args = ["-c:v", "mpeg4", "-vtag", "XVID", "-q:v", str(settings.mpeg4_qscale)]
        args += ["-bf", "0", "-pix_fmt", "yuv420p"]
        return args + (["-mbd", "rd"] if quality == "high" else [])
    args = ["-c:v", "libx264", "-preset", preset or settings.x264_preset]
    args += ["-crf", str(crf or settings.x264_crf), "-pix_fmt", "yuv420p", "-color_range", "tv"]
    args += ["-profile:v", profile.x264_profile]
    if profile.sps_id:
        args += ["-x264-params", f"sps-id={profile.sps_id}"]
    return args


def audio_encoder_args(
    profile: OutputProfile, quality: Quality = "standard", *, part: bool = False
) -> list[str]:
    """The output's audio encoder, or with `part` the codec of parts joined by stream copy."""
    codec = profile.part_audio_codec if part else profile.audio_codec
    layout = ["-ar", str(profile.audio_rate), "-ac", str(profile.audio_channels)]
    if codec == "pcm_s16le":
        return ["-c:a", "pcm_s16le", *layout]
    kbps = f"{QUALITY[quality].audio_kbps[codec]}k"
    if codec == "opus":
        return ["-c:a", "libopus", "-b:a", kbps, "-ar", "48000", "-ac", layout[-1]]
    if codec == "mp3":
        return ["-c:a", "libmp3lame", "-b:a", kbps, *layout]
    return ["-c:a", "aac", "-b:a", kbps, *layout]


def muxer_args(profile: OutputProfile, *, faststart: bool = False) -> list[str]:
    if profile.format == "webm":
        return ["-f", "webm"]
    if profile.format == "avi":
        # MP3 packets start before zero (encoder delay); shifting them would shift the video.
        return ["-f", "avi", "-avoid_negative_ts", "disabled"]
    args = ["-f", "mp4"]
    if profile.timescale:
        args += ["-video_track_timescale", str(profile.timescale)]
    if faststart:
        args += ["-movflags", "+faststart"]
    return args


def mp3_priming_trim(profile: OutputProfile) -> str:
    """Filters that start the audio `MP3_PRIMING_SAMPLES` in, so that after the encoder's delay
    every sample plays at its own time with the picture (empty off AVI)."""
    if profile.audio_codec != "mp3":
        return ""
    return f"atrim=start_sample={MP3_PRIMING_SAMPLES},asetpts=PTS-STARTPTS"
