"""Still pictures of a video or image: a small thumbnail, a full-size poster, a thumbnail strip.

JPEG or PNG by the destination's suffix; FFmpeg seeks, so only a few frames are decoded.
"""

from __future__ import annotations

from pathlib import Path

from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.probe import MediaProbe, probe_media


def _picture_args(dest: Path) -> list[str]:
    if dest.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
        raise MediaError("thumbnail must be .jpg, .jpeg or .png", dest)
    quality = ["-q:v", "3"] if dest.suffix.lower() != ".png" else []
    return [*quality, "-update", "1", "-f", "image2"]


def _full_range(dest: Path) -> str:
    """JPEG wants full-range YUV; filters like tile lose the range FFmpeg would pick itself."""
    return "format=yuvj420p" if dest.suffix.lower() in {".jpg", ".jpeg"} else "null"


def _seek_args(probe: MediaProbe, fraction: float) -> list[str]:
    if probe.kind == "image":
        return []
    return ["-ss", f"{probe.duration_s * fraction:.3f}"]


def _frame(src: Path, dest: Path, vf: str, fraction: float, timeout_s: float, step: str) -> Path:
    probe = probe_media(src)
    if probe.kind == "audio":
        raise MediaError("audio-only file has no picture", src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    args: list[str | Path] = [*_seek_args(probe, fraction), "-i", src, "-frames:v", "1", "-vf", vf]
    run_ffmpeg([*args, *_picture_args(dest), dest], step=step, timeout_s=timeout_s, clip=src)
    return dest


def make_thumbnail(src: Path, dest: Path, width: int = 320, *, timeout_s: float = 60) -> Path:
    """A `width`-wide picture from ~10% into a video, or from an image."""
    vf = f"scale={width}:-2:flags=bicubic"
    return _frame(Path(src), Path(dest), vf, 0.10, timeout_s, "thumbnail")


def make_poster(src: Path, dest: Path, *, at: float = 0.10, timeout_s: float = 60) -> Path:
    """A full-size picture from `at` (fraction of the duration) into the video."""
    return _frame(Path(src), Path(dest), "null", at, timeout_s, "poster")


def make_thumbnail_strip(
    src: Path, dest: Path, *, count: int = 8, width: int = 160, timeout_s: float = 300
) -> Path:
    """`count` evenly spaced thumbnails side by side; each is one seek, so little is decoded."""
    src, dest = Path(src), Path(dest)
    probe = probe_media(src)
    if probe.kind != "video":
        raise MediaError("a thumbnail strip needs a video", src)
    inputs: list[str | Path] = []
    chains: list[str] = []
    for i in range(count):
        inputs += ["-ss", f"{probe.duration_s * (i + 0.5) / count:.3f}", "-i", src]
        chains.append(f"[{i}:v:0]trim=end_frame=1,scale={width}:-2,setsar=1,setpts=0[t{i}]")
    tiles = "".join(f"[t{i}]" for i in range(count))
    stack = f"{tiles}hstack=inputs={count}" if count > 1 else f"{tiles}null"
    graph = ";".join([*chains, f"{stack},{_full_range(dest)}[strip]"])
    args = [*inputs, "-filter_complex", graph, "-map", "[strip]", "-frames:v", "1"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [*args, *_picture_args(dest), dest], step="thumbnail strip", timeout_s=timeout_s, clip=src
    )
    return dest
