"""Re-encodes one clip to the output profile (size, aspect, fps, rotation, audio) or patches its audio.

Touches only what the plan says: a clip whose video matches keeps it (stream copy) while its
audio is re-encoded or a silent track added, padded or trimmed to the video's exact length;
a clip whose picture must change keeps its audio by stream copy when that matches.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vsl_pipelines.media.encoders import audio_encoder_args, muxer_args, video_encoder_args
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.plan import ClipPlan
from vsl_pipelines.media.probe import MediaProbe
from vsl_pipelines.media.profile import OutputProfile, Quality


def fit_chain(width: int, height: int) -> str:
    """Letterbox or pillarbox into width x height without distorting the picture, in limited
    ("TV") range as video is (a JPEG still or a full-range clip would else keep full range)."""
    return (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:out_range=tv,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
    )


def video_chain(probe: MediaProbe, profile: OutputProfile, seconds: float) -> str:
    """Filters taking a decoded (already auto-rotated) clip to the profile, exactly `seconds` long."""
    fps = profile.fps_fraction
    frames = max(1, round(Fraction(seconds) * fps))
    square = "scale=trunc(iw*sar/2)*2:ih,setsar=1," if probe.sar_fraction != 1 else ""
    return (
        f"setpts=PTS-STARTPTS,{square}{fit_chain(profile.width, profile.height)},"
        f"fps={fps},format=yuv420p,trim=end_frame={frames},setpts=PTS-STARTPTS"
    )


def audio_chain(profile: OutputProfile, seconds: float) -> str:
    """Resample to the profile rate and layout, then pad or trim to exactly `seconds`."""
    samples = round(seconds * profile.audio_rate)
    return (
        f"aresample={profile.audio_rate}:async=1:first_pts=0,"
        f"aformat=sample_fmts=fltp:sample_rates={profile.audio_rate}"
        f":channel_layouts={profile.audio_layout},"
        f"apad,atrim=end_sample={samples},asetpts=PTS-STARTPTS"
    )


def silence_source(profile: OutputProfile, seconds: float) -> str:
    samples = round(seconds * profile.audio_rate)
    return (
        f"anullsrc=r={profile.audio_rate}:cl={profile.audio_layout},"
        f"atrim=end_sample={samples},aformat=sample_fmts=fltp"
    )


def normalize_clip(
    clip: ClipPlan,
    probe: MediaProbe,
    profile: OutputProfile,
    dest: Path,
    *,
    preset: str | None = None,
    crf: int | None = None,
    quality: Quality = "standard",
    timeout_s: float = 600,
) -> Path:
    """Write `dest`: the clip with its video re-encoded or copied and its audio as planned."""
    chains: list[str] = []
    maps: list[str] = []
    codecs: list[str] = []
    if clip.video == "encode":
        chains.append(f"[0:v:0]{video_chain(probe, profile, clip.duration_s)}[v]")
        maps += ["-map", "[v]"]
        codecs += video_encoder_args(profile, preset, crf, quality)
    else:
        maps += ["-map", "0:v:0"]
        codecs += ["-c:v", "copy"]
    if clip.audio == "copy":
        maps += ["-map", "0:a:0"]
        codecs += ["-c:a", "copy"]
    elif clip.audio == "encode":
        chains.append(f"[0:a:0]{audio_chain(profile, clip.duration_s)}[a]")
    elif clip.audio == "silence":
        chains.append(f"{silence_source(profile, clip.duration_s)}[a]")
    if clip.audio in ("encode", "silence"):
        maps += ["-map", "[a]"]
        codecs += audio_encoder_args(profile, quality, part=True)
    args: list[str | Path] = ["-i", probe.path, "-filter_complex", ";".join(chains), *maps, *codecs]
    args += ["-map_metadata", "-1", *muxer_args(profile), dest]
    run_ffmpeg(args, step=f"normalize clip {clip.index + 1}", timeout_s=timeout_s, clip=probe.path)
    return dest
