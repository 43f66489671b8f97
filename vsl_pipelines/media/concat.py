"""Joins profile-matching parts with FFmpeg's concat demuxer and stream copy (+faststart for MP4).

Each entry gets `inpoint 0` (drops the AAC priming packets that would otherwise add ~21 ms
of audio per clip) and `duration` = the clip's video length, so every clip starts exactly
where the previous clip's video ended: audio and video stay in step however many clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vsl_pipelines.media.encoders import muxer_args
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.profile import OutputProfile


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def write_concat_list(parts: Sequence[tuple[Path, float]], dest: Path) -> Path:
    lines = ["ffconcat version 1.0"]
    for path, seconds in parts:
        lines += [f"file {_quote(path)}", "inpoint 0", f"duration {seconds:.6f}"]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def concat_copy(
    parts: Sequence[tuple[Path, float]],
    dest: Path,
    profile: OutputProfile,
    *,
    timeout_s: float,
    faststart: bool = True,
) -> Path:
    """Stream-copy `parts` ((file, video seconds), all in `profile`) into `dest`."""
    listing = write_concat_list(parts, dest.with_name(dest.name + ".ffconcat"))
    maps = ["-map", "0:v:0"] + (["-map", "0:a:0"] if profile.has_audio else [])
    args = ["-f", "concat", "-safe", "0", "-i", listing, *maps, "-c", "copy"]
    args += ["-map_metadata", "-1", *muxer_args(profile, faststart=faststart), dest]
    try:
        run_ffmpeg(args, step="concat", timeout_s=timeout_s)
    finally:
        listing.unlink(missing_ok=True)
    return dest
