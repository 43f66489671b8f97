"""`vsl compile`: compile clips and stills into one video and print the plan and result as JSON.

Imports only the media engine, and only when the command runs (`--help` loads none of it): no
Dagster, database or web framework, no Pillow unless captions are drawn.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

FORMAT_OF_SUFFIX = {".webm": "webm", ".avi": "avi"}


class NarrationParam(click.ParamType):
    """`N:FILE`: input N (1-based) is narrated by FILE (checked against the inputs later)."""

    name = "N:FILE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        number, sep, path = str(value).partition(":")
        if not sep or not number.strip().isdigit() or int(number) < 1 or not path:
            self.fail(f"{value!r} is not N:FILE (N = the input's number, from 1)", param, ctx)
        return int(number), Path(path)


@click.command("compile")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "output", required=True, type=click.Path(path_type=Path))
@click.option("--size", help="WxH or a preset: 1080p, 720p, vertical, square, feed")
@click.option("--fps", help="e.g. 30, 25, 29.97; default: the common input rate")
@click.option(
    "--aspect",
    help="W:H of the frame (16:9, 9:16, 1:1): the size's short side kept, clips reframed",
)
@click.option(
    "--reframe",
    type=click.Choice(["fit", "crop", "blur"]),
    help="a clip of another aspect: letterboxed, cropped around its subject, or over a "
    "blurred fill (default: crop with --aspect, else fit)",
)
@click.option("--transition", help="TYPE:SECONDS, e.g. fade:0.5, wipeleft:0.3")
@click.option("--soundtrack", type=click.Path(path_type=Path), help="background music file")
@click.option("--loudness", type=float, default=-16.0, show_default=True, help="LUFS target")
@click.option("--no-ducking", is_flag=True, help="do not lower the music under clip audio")
@click.option(
    "--captions", type=click.Path(path_type=Path), help=".srt, .json or one line per clip"
)
@click.option(
    "--format", "fmt", type=click.Choice(["mp4", "webm", "avi"]), help="default: from --out"
)
@click.option(
    "--narration",
    "narrations",
    multiple=True,
    type=NarrationParam(),
    help="N:FILE: input N (from 1) is narrated by FILE and lasts as long as it (repeatable)",
)
@click.option(
    "--pad",
    type=click.FloatRange(0, 5),
    default=0.5,
    show_default=True,
    help="seconds of silence after each voice before the next section",
)
@click.option(
    "--fit",
    type=click.Choice(["hold", "slow", "loop"]),
    default="hold",
    show_default=True,
    help="a clip shorter than its voice: hold its last frame, slow it down, or loop it",
)
@click.option(
    "--max-slowdown", type=click.FloatRange(1, 4), default=1.5, show_default=True, help="--fit slow"
)
@click.option(
    "--clip-audio",
    type=click.Choice(["keep", "lower", "drop"]),
    default="lower",
    show_default=True,
    help="the clips' own sound under a voice",
)
@click.option("--still-seconds", type=float, default=3.0, show_default=True)
@click.option("--zoom", is_flag=True, help="slow zoom on stills")
@click.option(
    "--quality",
    type=click.Choice(["draft", "standard", "high"]),
    default="standard",
    show_default=True,
    help="encoder settings of re-encoded parts",
)
@click.option("--preset", help="x264 preset for re-encodes (default: from --quality)")
@click.option("--poster", is_flag=True, help="also write OUT.poster.jpg")
@click.option("--strip", is_flag=True, help="also write OUT.strip.jpg (thumbnail strip)")
@click.option("--timeout", type=float, default=1800.0, show_default=True, help="seconds")
@click.option(
    "--verify",
    "verify",
    type=click.Choice(["quick", "full", "off"]),
    default="quick",
    show_default=True,
    help="check the output before publishing it: quick reads every packet and decodes what was "
    "encoded and each part's first frame; full decodes every frame",
)
@click.option("--no-verify", is_flag=True, help="same as --verify off")
def compile_command(
    inputs: tuple[Path, ...],
    output: Path,
    size: str | None,
    fps: str | None,
    aspect: str | None,
    reframe: str | None,
    transition: str | None,
    soundtrack: Path | None,
    loudness: float,
    no_ducking: bool,
    captions: Path | None,
    fmt: str | None,
    narrations: tuple[tuple[int, Path], ...],
    pad: float,
    fit: str,
    max_slowdown: float,
    clip_audio: str,
    still_seconds: float,
    zoom: bool,
    quality: str,
    preset: str | None,
    poster: bool,
    strip: bool,
    timeout: float,
    verify: str,
    no_verify: bool,
) -> None:
    """Compile CLIP_OR_IMAGE... into OUT (stream copy where the clips already match)."""
    from vsl_pipelines.media.captions import CaptionCue, load_captions
    from vsl_pipelines.media.compile import compile_video
    from vsl_pipelines.media.errors import MediaError
    from vsl_pipelines.media.options import (
        ClipInput,
        CompileOptions,
        SoundtrackSpec,
        TransitionSpec,
        VoiceTiming,
    )

    for number, _ in narrations:
        if number > len(inputs):
            raise click.BadParameter(
                f"input {number} does not exist ({len(inputs)} given)", param_hint="--narration"
            )
    try:
        clips = [ClipInput(path=p) for p in inputs]
        for number, voice in narrations:
            clips[number - 1].narration = voice
        cues: list[CaptionCue] = []
        if captions is not None:
            loaded = load_captions(captions)
            for clip, text in zip(clips, [t for t in loaded if isinstance(t, str)], strict=False):
                clip.caption = text or None
            cues = [c for c in loaded if isinstance(c, CaptionCue)]
        options = CompileOptions(
            size=size,
            fps=fps,
            aspect=aspect,
            reframe=reframe or ("crop" if aspect else "fit"),  # type: ignore[arg-type]
            format=fmt or FORMAT_OF_SUFFIX.get(output.suffix.lower(), "mp4"),  # type: ignore[arg-type]
            quality=quality,  # type: ignore[arg-type]
            preset=preset,
            transition=TransitionSpec.parse(transition) if transition else None,
            soundtrack=(
                SoundtrackSpec(path=soundtrack, loudness_lufs=loudness, ducking=not no_ducking)
                if soundtrack
                else None
            ),
            voice=VoiceTiming(
                pad_s=pad,
                fit=fit,  # type: ignore[arg-type]
                max_slowdown=max_slowdown,
                clip_audio=clip_audio,  # type: ignore[arg-type]
            ),
            still_duration_s=still_seconds,
            still_zoom=zoom,
            timeout_s=timeout,
            verify="off" if no_verify else verify,  # type: ignore[arg-type]
            poster=poster,
            thumbnail_strip=strip,
        )
        result = compile_video(clips, output, options, caption_cues=cues)
    except (MediaError, ValueError) as exc:
        click.echo(json.dumps({"ok": False, "error": str(exc)}), err=True)
        sys.exit(1)
    click.echo(json.dumps({"ok": True, **result.model_dump(mode="json")}, indent=2))
