"""Re-encodes one clip to the output profile (size, aspect, fps, rotation, audio) or patches its audio.

Touches only what the plan says: a clip whose video matches keeps it (stream copy) while its
audio is re-encoded or a silent track added, padded or trimmed to the video's exact length;
a clip whose picture must change keeps its audio by stream copy when that matches.
A narrated clip is also cut or stretched to its section here (`ClipPlan.timing`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vsl_pipelines.media.encoders import audio_encoder_args, muxer_args, video_encoder_args
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.options import Reframe
from vsl_pipelines.media.plan import ClipPlan, ClipTiming
from vsl_pipelines.media.probe import MediaProbe
from vsl_pipelines.media.profile import OutputProfile, Quality


def fit_chain(width: int, height: int) -> str:
    """Letterbox or pillarbox into width x height without distorting the picture, in limited
    ("TV") range as video is (a JPEG still or a full-range clip would else keep full range)."""
    return (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:out_range=tv,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
    )


BLUR_SIGMA = 3  # on the fill at an eighth of the frame: a soft wash, no shapes left
FILL_DIM = -0.08  # the fill a little darker than the picture, which then stands out


def frame_chain(
    width: int,
    height: int,
    reframe: Reframe = "fit",
    tag: str = "r",
    focus: tuple[float, float] = (0.5, 0.5),
) -> str:
    """Filters taking a picture of any aspect into width x height (limited range, square
    pixels): letterboxed ("fit", `fit_chain`), cropped around its centre ("crop"), or whole
    over a blurred fill cut from itself ("blur"). The fill is blurred at an eighth of the size
    and scaled up, which costs little beside the encode; `tag` keeps the fill's labels apart
    when several clips share one graph (transitions). A crop is centred on `focus` (the
    subject's place as fractions of the picture, `focus.focus_point`), kept inside it."""
    if reframe == "crop":
        fx, fy = focus
        return (
            f"scale={width}:{height}:force_original_aspect_ratio=increase:out_range=tv,"
            f"crop={width}:{height}:x='min(max(iw*{fx:g}-ow/2,0),iw-ow)'"
            f":y='min(max(ih*{fy:g}-oh/2,0),ih-oh)',setsar=1"
        )
    if reframe == "blur":
        small_w, small_h = max(16, width // 8), max(16, height // 8)
        return (
            f"split[{tag}p][{tag}f];"
            f"[{tag}f]scale={small_w}:{small_h}:force_original_aspect_ratio=increase,"
            f"crop={small_w}:{small_h},gblur=sigma={BLUR_SIGMA},eq=brightness={FILL_DIM},"
            f"scale={width}:{height}:out_range=tv,setsar=1[{tag}b];"
            f"[{tag}p]scale={width}:{height}:force_original_aspect_ratio=decrease"
            f":force_divisible_by=2:out_range=tv,setsar=1[{tag}s];"
            f"[{tag}b][{tag}s]overlay=x=(W-w)/2:y=(H-h)/2,setsar=1"
        )
    return fit_chain(width, height)


def clip_input_args(path: Path | str, timing: ClipTiming | None) -> list[str]:
    """`-i path`, read over and over for a clip looped to its voice (the demuxer repeats the
    file, so no frames are held in memory as the `loop` filter would)."""
    loop = ["-stream_loop", "-1"] if timing is not None and timing.action == "loop" else []
    return [*loop, "-i", str(path)]


def video_chain(
    probe: MediaProbe,
    profile: OutputProfile,
    seconds: float,
    timing: ClipTiming | None = None,
    reframe: Reframe = "fit",
    tag: str = "r",
    focus: tuple[float, float] = (0.5, 0.5),
) -> str:
    """Filters taking a decoded (already auto-rotated) clip to the profile, exactly `seconds` long.

    A clip shorter than its narrated section is slowed (`setpts` before `fps`, which then
    repeats frames at the profile's rate) and/or its last frame repeated (`tpad` clone); a
    looped one arrives repeated by its input (`clip_input_args`); `trim` cuts every case."""
    fps = profile.fps_fraction
    frames = max(1, round(Fraction(seconds) * fps))
    square = "scale=trunc(iw*sar/2)*2:ih,setsar=1," if probe.sar_fraction != 1 else ""
    start = "setpts=PTS-STARTPTS"
    if timing is not None and timing.action == "loop":
        # Each pass of the file is offset by its longest stream (AAC priming makes the audio
        # a frame longer): timestamps from the frame count join the passes without a gap.
        start = "setpts=N/FRAME_RATE/TB"
    hold = ""
    if timing is not None and timing.action in ("hold", "slow"):
        if timing.slowdown > 1:
            start = f"setpts={timing.slowdown:.6f}*(PTS-STARTPTS)"
        # Held a little past the section (rounding of the clip's last frame); trim cuts it.
        hold = f"tpad=stop_mode=clone:stop_duration={timing.held_s + 0.25:.4f},"
    return (
        f"{start},{square}{frame_chain(profile.width, profile.height, reframe, tag, focus)},"
        f"fps={fps},format=yuv420p,{hold}trim=end_frame={frames},setpts=PTS-STARTPTS"
    )


def picture_offset(probe: MediaProbe) -> float:
    """Where the clip's first frame is on FFmpeg's timeline of the clip as an input: FFmpeg
    starts an input at its earliest stream, so this is not zero when the audio starts first."""
    return max(0.0, probe.video_start_s - probe.start_s)


def audio_chain(
    profile: OutputProfile,
    seconds: float,
    timing: ClipTiming | None = None,
    offset_s: float = 0.0,
) -> str:
    """Resample to the profile rate and layout, then pad or trim to exactly `seconds`.

    The audio is taken from the clip's first frame, `offset_s` into the input (`picture_offset`):
    what plays before the picture is cut, a start after it is filled with silence (`first_pts`),
    so the sound stays where the clip has it against the picture, which is re-based to zero.
    A slowed clip's sound is slowed as much (`atempo`, pitch kept), so it stays with its
    picture; under a held last frame it falls silent."""
    samples = round(seconds * profile.audio_rate)
    shift = f"asetpts=PTS-{offset_s:.6f}/TB," if offset_s else ""
    tempo = ""
    if timing is not None and timing.action == "slow" and timing.slowdown > 1:
        remaining = 1 / timing.slowdown
        while remaining < 0.5:  # atempo takes 0.5 .. 100 per instance
            tempo += "atempo=0.5,"
            remaining *= 2
        tempo += f"atempo={remaining:.6f},"
    return (
        f"{shift}aresample={profile.audio_rate}:async=1:first_pts=0,"
        f"aformat=sample_fmts=fltp:sample_rates={profile.audio_rate}"
        f":channel_layouts={profile.audio_layout},"
        f"{tempo}apad,atrim=end_sample={samples},asetpts=PTS-STARTPTS"
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
    joined_audio: bool = False,
    retime: bool = False,
) -> Path:
    """Write `dest`: the clip with its video re-encoded or copied and its audio as planned.

    With `joined_audio` (MP4: `concat.join_audio` takes copied audio and pictures from the
    clip itself), `dest` holds only what was encoded: no copied stream, so a clip whose audio
    alone changes gets an audio-only part; `retime` copies the picture in all the same, into
    the profile's time base (`muxer_args`), which the join needs."""
    chains: list[str] = []
    maps: list[str] = []
    codecs: list[str] = []
    if clip.video == "encode":
        chain = video_chain(
            probe, profile, clip.duration_s, clip.timing, clip.reframe, focus=clip.focus
        )
        chains.append(f"[0:v:0]{chain}[v]")
        maps += ["-map", "[v]"]
        codecs += video_encoder_args(profile, preset, crf, quality)
    elif retime or not joined_audio:
        maps += ["-map", "0:v:0"]
        codecs += ["-c:v", "copy"]
    # A copied picture keeps its place on the input's timeline, an encoded one starts at zero;
    # joined audio is placed against the picture, wherever that is.
    offset = picture_offset(probe) if clip.video == "encode" or joined_audio else 0.0
    if clip.audio == "copy" and not joined_audio:
        maps += ["-map", "0:a:0"]
        codecs += ["-c:a", "copy"]
    elif clip.audio == "encode":
        chains.append(f"[0:a:0]{audio_chain(profile, clip.duration_s, clip.timing, offset)}[a]")
    elif clip.audio == "silence":
        chains.append(f"{silence_source(profile, clip.duration_s)}[a]")
    if clip.audio in ("encode", "silence"):
        maps += ["-map", "[a]"]
        codecs += audio_encoder_args(profile, quality, part=True)
    args: list[str | Path] = [*clip_input_args(probe.path, clip.timing)]
    if chains:
        args += ["-filter_complex", ";".join(chains)]
    args += [*maps, *codecs]
    args += ["-map_metadata", "-1", *muxer_args(profile), dest]
    run_ffmpeg(args, step=f"normalize clip {clip.index + 1}", timeout_s=timeout_s, clip=probe.path)
    return dest
