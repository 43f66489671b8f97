"""Joins profile-matching parts with FFmpeg's concat demuxer and stream copy (+faststart for MP4).

For MP4 the index (moov) goes first without +faststart's second pass over the file: space
for it is reserved up front from the packet count (falling back to +faststart if too small).
Each entry gets `inpoint 0` (drops the AAC priming packets that would otherwise add ~21 ms
of audio per clip) and `duration` = the clip's video length, so every clip starts exactly
where the previous clip's video ended: audio and video stay in step however many clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vsl_pipelines.media.encoders import muxer_args
from vsl_pipelines.media.errors import FFmpegError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.profile import OutputProfile

MOOV_BASE_BYTES = 16384
MOOV_BYTES_PER_PACKET = 24  # measured ~12 (stsz, stts, ctts, stco); twice that for safety


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
    packets: int | None = None,
) -> Path:
    """Stream-copy `parts` ((file, video seconds), all in `profile`) into `dest`.

    `packets` (video + audio, estimated) sizes the index reserved at the front of an MP4."""
    listing = write_concat_list(parts, dest.with_name(dest.name + ".ffconcat"))
    maps = ["-map", "0:v:0"] + (["-map", "0:a:0"] if profile.has_audio else [])
    args: list[str | Path] = ["-f", "concat", "-safe", "0", "-i", listing, *maps, "-c", "copy"]
    args += ["-map_metadata", "-1"]
    reserve = faststart and profile.format == "mp4" and packets is not None
    try:
        if reserve:
            moov = ["-moov_size", str(MOOV_BASE_BYTES + MOOV_BYTES_PER_PACKET * (packets or 0))]
            try:
                run_ffmpeg(
                    [*args, *muxer_args(profile), *moov, dest], step="concat", timeout_s=timeout_s
                )
                return dest
            except FFmpegError as exc:
                if "reserved_moov_size" not in exc.line:
                    raise
        run_ffmpeg(
            [*args, *muxer_args(profile, faststart=faststart), dest],
            step="concat",
            timeout_s=timeout_s,
        )
    finally:
        listing.unlink(missing_ok=True)
    return dest
