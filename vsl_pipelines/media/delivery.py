"""What a landing page needs beside the video (a script's `output.delivery`): an HLS ladder,
the narration's captions as WebVTT and SRT tracks, a WebVTT chapters track with one cue per
section, and a poster, each written next to the others under a name a person knows.

The captions are the cues the compile timed to the voices (`CompileResult.timed_text`, the
same the burnt-in captions use); the chapters are the plan's sections on the output's
timeline. The ladder is one FFmpeg run: the video decoded once, scaled to every rung and
encoded with a keyframe at every segment boundary, so a player switches rungs at any segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from vsl_pipelines.media.captions import CaptionCue
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.plan import CompilePlan
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.media.thumbnails import make_poster

CaptionFormat = Literal["vtt", "srt"]
SEGMENT_S = 2.0  # short segments start playback sooner; Apple's guide asks for about 6 s at most
# Bits per pixel per frame of each rung's target bitrate: near what the streaming services
# use for H.264 at 30 fps (1080p ~ 5 Mbit/s, 540p ~ 1.2 Mbit/s).
BITS_PER_PIXEL = 0.08
MIN_RUNG_SHORT_SIDE = 180  # below this a rung is not worth a player's switch
MAX_RUNGS = 3
AUDIO_KBPS = 128


class DeliverySpec(BaseModel):
    """Which delivery files to make (see the module docstring)."""

    hls: bool = False
    captions: list[CaptionFormat] = []
    chapters: bool = False
    poster: bool = False

    @property
    def wanted(self) -> bool:
        return self.hls or bool(self.captions) or self.chapters or self.poster


class Chapter(BaseModel):
    start_s: float
    end_s: float
    title: str


class HlsRung(BaseModel):
    name: str  # `540p`: the rung's short side, as players label it
    width: int
    height: int
    video_kbps: int


class HlsLadder(BaseModel):
    master: Path
    files: list[Path]  # the master, each rung's playlist and segments
    rungs: list[HlsRung]
    segment_s: float


class DeliveryFiles(BaseModel):
    """What `package_delivery` wrote: the files by role (`captions.vtt`, `captions.srt`,
    `chapters.vtt`, `poster.jpg`) and the HLS ladder."""

    files: dict[str, Path] = {}
    hls: HlsLadder | None = None

    def all_files(self) -> list[Path]:
        return [*self.files.values(), *(self.hls.files if self.hls else [])]


def chapters_of(plan: CompilePlan) -> list[Chapter]:
    """One chapter per section, from where it starts on the output's timeline to where the
    next one starts (the last to the end), titled with the section's name."""
    chapters = []
    for number, clip in enumerate(plan.clips):
        following = plan.clips[number + 1] if number + 1 < len(plan.clips) else None
        end = following.start_s if following else plan.expected_duration_s
        title = clip.title or f"Section {number + 1}"
        chapters.append(Chapter(start_s=round(clip.start_s, 3), end_s=round(end, 3), title=title))
    return chapters


def _timestamp(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _vtt_text(text: str) -> str:
    """Cue text as WebVTT reads it: `&`, `<` and `>` escaped, no blank line (it ends a cue)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(line for line in escaped.splitlines() if line.strip()) or " "


def webvtt(cues: Sequence[CaptionCue | Chapter]) -> str:
    """A WebVTT document with one numbered cue per item (a caption's text, a chapter's title)."""
    blocks = ["WEBVTT"]
    for number, cue in enumerate(cues, start=1):
        text = cue.text if isinstance(cue, CaptionCue) else cue.title
        start, end = _timestamp(cue.start_s, "."), _timestamp(cue.end_s, ".")
        blocks.append(f"{number}\n{start} --> {end}\n{_vtt_text(text)}")
    return "\n\n".join(blocks) + "\n"


def srt(cues: Sequence[CaptionCue]) -> str:
    """A SubRip document with one numbered cue per caption."""
    blocks = []
    for number, cue in enumerate(cues, start=1):
        start, end = _timestamp(cue.start_s, ","), _timestamp(cue.end_s, ",")
        text = "\n".join(line for line in cue.text.splitlines() if line.strip()) or " "
        blocks.append(f"{number}\n{start} --> {end}\n{text}")
    return "\n\n".join(blocks) + "\n"


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def ladder_rungs(width: int, height: int, fps: Fraction) -> list[HlsRung]:
    """The source's own size, then halves down to `MIN_RUNG_SHORT_SIDE` (at most `MAX_RUNGS`),
    and always at least two: a small source gets its half as the second rung."""
    sizes = [(width, height)]
    while len(sizes) < MAX_RUNGS:
        w, h = sizes[-1]
        half = (_even(w / 2), _even(h / 2))
        if min(half) < MIN_RUNG_SHORT_SIDE and len(sizes) >= 2:
            break
        sizes.append(half)
    return [
        HlsRung(
            name=f"{min(w, h)}p",
            width=w,
            height=h,
            video_kbps=max(16, round(w * h * float(fps) * BITS_PER_PIXEL / 1000)),
        )
        for w, h in sizes
    ]


def package_hls(
    video: Path, folder: Path, *, segment_s: float = SEGMENT_S, timeout_s: float = 600
) -> HlsLadder:
    """`folder/master.m3u8` over one playlist and MPEG-TS segments per rung (`ladder_rungs`),
    every rung with a keyframe at each `segment_s` so their segments line up."""
    probe = probe_media(video)
    if probe.kind != "video" or not probe.width or not probe.height:
        raise MediaError("an HLS ladder needs a video", video)
    fps = probe.fps_fraction or Fraction(30)
    rungs = ladder_rungs(probe.width, probe.height, fps)
    folder.mkdir(parents=True, exist_ok=True)
    splits = "".join(f"[s{i}]" for i in range(len(rungs)))
    chains = [f"[0:v:0]split={len(rungs)}{splits}"]
    args: list[str | Path] = ["-i", video]
    maps: list[str] = []
    codecs: list[str] = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    gop = max(1, round(segment_s * fps))
    for i, rung in enumerate(rungs):
        chains.append(f"[s{i}]scale={rung.width}:{rung.height},setsar=1[o{i}]")
        maps += ["-map", f"[o{i}]"]
        kbps = rung.video_kbps
        codecs += [f"-b:v:{i}", f"{kbps}k", f"-maxrate:v:{i}", f"{round(kbps * 1.5)}k"]
        codecs += [f"-bufsize:v:{i}", f"{kbps * 2}k"]
    if probe.has_audio:
        maps += [arg for _ in rungs for arg in ("-map", "0:a:0")]
        codecs += ["-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2"]
    # The same keyframes on every rung: a fixed GOP of one segment, no scene-cut keyframes,
    # and a forced one at each boundary (whatever the timestamps do).
    codecs += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    codecs += ["-force_key_frames", f"expr:gte(t,n_forced*{segment_s})"]
    streams = " ".join(
        f"v:{i}" + (f",a:{i}" if probe.has_audio else "") + f",name:{rung.name}"
        for i, rung in enumerate(rungs)
    )
    args += ["-filter_complex", ";".join(chains), *maps, *codecs, "-map_metadata", "-1"]
    args += [
        "-f", "hls", "-hls_time", f"{segment_s:g}", "-hls_playlist_type", "vod",
        "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts",
        "-hls_segment_filename", folder / "%v-%05d.ts",
        "-master_pl_name", "master.m3u8", "-var_stream_map", streams, folder / "%v.m3u8",
    ]  # fmt: skip
    run_ffmpeg(args, step="HLS ladder", timeout_s=timeout_s, clip=video)
    master = folder / "master.m3u8"
    files = [master]
    for rung in rungs:
        files.append(folder / f"{rung.name}.m3u8")
        files.extend(sorted(folder.glob(f"{rung.name}-*.ts")))
    return HlsLadder(master=master, files=files, rungs=rungs, segment_s=segment_s)


def package_delivery(
    video: Path,
    folder: Path,
    stem: str,
    spec: DeliverySpec,
    *,
    cues: Sequence[CaptionCue] = (),
    chapters: Sequence[Chapter] = (),
    timeout_s: float = 600,
) -> DeliveryFiles:
    """The files `spec` asks for, from the compiled `video`, in `folder`: `{stem}-captions.vtt`,
    `{stem}-captions.srt`, `{stem}-chapters.vtt`, `{stem}-poster.jpg`, `{stem}-hls/`."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for fmt in spec.captions:
        path = folder / f"{stem}-captions.{fmt}"
        path.write_text(webvtt(cues) if fmt == "vtt" else srt(cues), encoding="utf-8")
        files[f"captions.{fmt}"] = path
    if spec.chapters:
        path = folder / f"{stem}-chapters.vtt"
        path.write_text(webvtt(chapters), encoding="utf-8")
        files["chapters.vtt"] = path
    if spec.poster:
        files["poster.jpg"] = make_poster(video, folder / f"{stem}-poster.jpg", timeout_s=timeout_s)
    hls = package_hls(video, folder / f"{stem}-hls", timeout_s=timeout_s) if spec.hls else None
    return DeliveryFiles(files=files, hls=hls)
