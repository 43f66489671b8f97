"""Turns a still image into a clip of the output profile, optionally with a slow centred zoom.

Used by the compiler for image sections and by the collecting assets for image takes.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vsl_pipelines.media.encoders import audio_encoder_args, muxer_args, video_encoder_args
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.normalize import frame_chain, silence_source
from vsl_pipelines.media.options import Reframe
from vsl_pipelines.media.profile import OutputProfile, Quality, parse_fps

ZOOM_GAIN = 0.12


def still_input_args(image: Path | str, profile: OutputProfile, zoom: bool) -> list[str]:
    """Zoom reads the picture once (zoompan emits the frames); otherwise the image is looped."""
    if zoom:
        return ["-i", str(image)]
    return ["-loop", "1", "-framerate", profile.fps, "-i", str(image)]


def still_chain(
    profile: OutputProfile,
    seconds: float,
    zoom: bool,
    reframe: Reframe = "fit",
    tag: str = "r",
    focus: tuple[float, float] = (0.5, 0.5),
) -> str:
    fps = profile.fps_fraction
    frames = max(1, round(Fraction(seconds) * fps))
    w, h = profile.width, profile.height
    if zoom:
        # zoompan crops on whole pixels: working at twice the size keeps the motion smooth.
        return (
            f"{frame_chain(2 * w, 2 * h, reframe, tag, focus)},"
            f"zoompan=z='1+{ZOOM_GAIN}*on/{frames}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
            f":d={frames}:s={w}x{h}:fps={fps},setsar=1,format=yuv420p,"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS"
        )
    return f"{frame_chain(w, h, reframe, tag, focus)},format=yuv420p,trim=end_frame={frames},setpts=PTS-STARTPTS"


def render_still(
    image: Path | str,
    dest: Path,
    profile: OutputProfile,
    *,
    seconds: float,
    zoom: bool = False,
    reframe: Reframe = "fit",
    focus: tuple[float, float] = (0.5, 0.5),
    preset: str | None = None,
    crf: int | None = None,
    quality: Quality = "standard",
    timeout_s: float = 600,
    step: str = "still",
) -> Path:
    """Write `dest` in `profile`, with a silent track when the profile has audio."""
    chains = [f"[0:v:0]{still_chain(profile, seconds, zoom, reframe, focus=focus)}[v]"]
    maps = ["-map", "[v]"]
    codecs = video_encoder_args(profile, preset, crf, quality)
    if profile.has_audio:
        chains.append(f"{silence_source(profile, seconds)}[a]")
        maps += ["-map", "[a]"]
        codecs += audio_encoder_args(profile, quality, part=True)
    args: list[str | Path] = [
        *still_input_args(image, profile, zoom),
        "-filter_complex",
        ";".join(chains),
    ]
    args += [*maps, *codecs, "-map_metadata", "-1", *muxer_args(profile, faststart=True), dest]
    run_ffmpeg(args, step=step, timeout_s=timeout_s, clip=image)
    return dest


def still_to_clip(
    image: Path,
    dest: Path,
    *,
    duration_s: float,
    width: int,
    height: int,
    fps: float | str = 30,
    zoom: bool = False,
    silent_audio: bool = False,
    audio_rate: int = 48000,
    audio_channels: int = 2,
    preset: str = "veryfast",
    timeout_s: float = 600,
) -> Path:
    """An H.264 yuv420p MP4 (or VP9 WebM when `dest` ends in .webm) showing `image`."""
    if duration_s <= 0:
        raise MediaError(f"still duration must be positive, got {duration_s}", image)
    if not Path(image).is_file():
        raise MediaError("file not found", image)
    webm = Path(dest).suffix.lower() == ".webm"
    profile = OutputProfile(
        format="webm" if webm else "mp4",
        width=width - width % 2,
        height=height - height % 2,
        fps=str(parse_fps(fps)),
        video_codec="vp9" if webm else "h264",
        has_audio=silent_audio,
        audio_codec="opus" if webm else "aac",
        audio_rate=48000 if webm else audio_rate,
        audio_channels=audio_channels,
    )
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    return render_still(
        image,
        Path(dest),
        profile,
        seconds=duration_s,
        zoom=zoom,
        preset=preset,
        timeout_s=timeout_s,
    )
