"""Joins profile-matching parts with FFmpeg's concat demuxer and stream copy (+faststart for MP4).

For MP4 the index (moov) goes first without +faststart's second pass over the file: space
for it is reserved up front from the packet count (falling back to +faststart if too small).
Each entry gets `inpoint` = where its first frame is shown (0 unless the file starts its
video later) and `duration` = its video length, so every clip's picture starts exactly where
the previous one's ended.

The concat demuxer cannot join audio exactly: at `inpoint` it seeks the video to its keyframe
and every other stream to that keyframe's decode time, which B-frames put before zero, so the
AAC priming packet an edit list hides (and, in a trim, the part of a packet it hides) came
along and played: 1,024 samples too many per such clip, the audio later by ~21 ms at each
join. Nor can it drop the packets by which a clip's audio outlasts its picture (up to a
packet per clip: 100 ms over 25 short clips). So an MP4's audio is joined here, packet by
packet: each part's packets from the one that starts with its picture, kept while they start
before the part's end, written back to back, into a pipe the concat reads beside the joined
video while a thread fills it (`joined_audio_pipe`), so the join adds no time of its own.
Every join is then within half a packet (10.7 ms at 48 kHz) of its picture, and the error
does not add up.
"""

from __future__ import annotations

import fcntl
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from vsl_pipelines.media.encoders import muxer_args
from vsl_pipelines.media.errors import FFmpegError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.mp4_header import starts_with_ftyp
from vsl_pipelines.media.profile import OutputProfile

QUICK_MP4 = {"threads": "1", "probesize": "32"}  # as `probe.QUICK_MP4`: the moov lists the streams

MOOV_BASE_BYTES = 16384
MOOV_BYTES_PER_PACKET = 24  # measured ~12 (stsz, stts, ctts, stco); twice that for safety
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size: ~60 s of 128 kbit/s audio ahead


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def write_concat_list(
    parts: Sequence[tuple[Path, float]], dest: Path, inpoints: Sequence[float] | None = None
) -> Path:
    """The concat demuxer's list: each part from its `inpoint` (0 by default) for its seconds.

    An MP4 part is opened with the least read-ahead (`option probesize 32`): its moov lists
    the streams, and the demuxer's find_stream_info otherwise decoded the first frames of every
    part (~2 ms per 720p part, the output unchanged)."""
    lines = ["ffconcat version 1.0"]
    for index, (path, seconds) in enumerate(parts):
        inpoint = inpoints[index] if inpoints else 0.0
        lines.append(f"file {_quote(path)}")
        if path.is_file() and starts_with_ftyp(path):
            lines.append(f"option probesize {QUICK_MP4['probesize']}")
        lines += [f"inpoint {inpoint:.6f}", f"duration {seconds:.6f}"]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


@dataclass(frozen=True)
class AudioPart:
    """One part's audio for `join_audio`: the file, where its picture starts in that file's
    timeline (the packet starting there plays first), and where the part ends in the output."""

    path: Path
    from_s: float
    end_s: float


def join_audio(parts: Sequence[AudioPart], dest: Path, rate: int) -> Path:
    """Write the parts' audio packets back to back into `dest` (an MP4 audio track); the
    compile streams the same track to FFmpeg instead (`joined_audio_pipe`)."""
    _mux_joined_audio(parts, str(dest), "mp4", rate)
    return dest


@contextmanager
def joined_audio_pipe(
    parts: Sequence[AudioPart], rate: int
) -> Iterator[tuple[int, Callable[[], None]]]:
    """The read end of a pipe that a thread fills with the parts' joined audio while FFmpeg
    reads it (`-f nut -i pipe:FD`), so the join runs beside the concat instead of before it,
    and what starts the thread (`run_ffmpeg(feed=...)`, once FFmpeg is spawned).

    NUT streams without seeking and keeps the codec's header and the sample time base, so the
    output is the one an MP4 track file gives. The pipe is widened (`PIPE_BYTES`) so the join
    runs ahead instead of in step with FFmpeg's reads. FFmpeg holds its own copy of the read
    end; ours is closed when FFmpeg is done, so a writer it left blocked ends (broken pipe).
    The writer's failure is raised when FFmpeg succeeded (the audio it read ended early) and
    when it is why FFmpeg failed; a broken pipe after FFmpeg failed leaves FFmpeg's error."""
    read, write = os.pipe()
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux
        with suppress(OSError):  # above pipe-max-size: a narrower pipe only costs time
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    sink = open(write, "wb", buffering=0)  # noqa: SIM115 -- closed by the writer thread
    failed: list[BaseException] = []

    def fill() -> None:
        try:
            with sink:
                _mux_joined_audio(parts, sink, "nut", rate)
        except BaseException as exc:  # raised in the caller's thread below
            failed.append(exc)

    writer = threading.Thread(target=fill, name="join-audio", daemon=True)
    ffmpeg_failed = True
    try:
        yield read, writer.start
        ffmpeg_failed = False
    finally:
        os.close(read)
        if writer.ident is None:
            sink.close()  # FFmpeg never ran
        writer.join()
        if failed and not (ffmpeg_failed and isinstance(failed[0], BrokenPipeError)):
            raise failed[0]


def _mux_joined_audio(
    parts: Sequence[AudioPart], dest: str | BinaryIO, format: str, rate: int
) -> None:
    """From each part: the packets after `from_s` that no edit list hides, while they start
    before the part's end (a packet is kept when most of it falls inside), timestamped by the
    samples written so far, so the track has no gap or overlap a player could read otherwise.
    The plan copies only audio with a packet boundary at `from_s` (`audio_join_mismatches`)."""
    import av  # deferred: importing PyAV costs start-up where nothing is joined

    base = Fraction(1, rate)
    written = 0  # samples
    with av.open(dest, "w", format=format) as out:
        track = None
        for part in parts:
            end = round(part.end_s * rate)
            with av.open(str(part.path), options=QUICK_MP4) as source:
                stream = source.streams.audio[0]
                for other in source.streams:
                    if other.index != stream.index:
                        other.discard = av.stream.Discard.all  # their packets are never read
                if track is None:
                    track = out.add_stream_from_template(stream)
                    track.time_base = base
                tick = stream.time_base or base
                # Compared in the stream's own ticks (a Fraction per packet cost more than the
                # packet): a packet starts within half a sample of `from_s` or after it.
                first = math.ceil((Fraction(part.from_s) - base / 2) / tick)
                # Every packet decodes to a whole frame, the last one too (its shorter duration
                # in the file only marks where the sound ended): the first packet's length.
                frame = stream.codec_context.frame_size
                for packet in source.demux(stream):
                    pts = packet.pts
                    if pts is None or pts < first or not packet.size or packet.is_discard:
                        continue
                    if not frame:
                        frame = round((packet.duration or 0) * tick * rate)
                    samples = frame or 1024
                    if 2 * written + samples > 2 * end:
                        break
                    packet.stream = track
                    packet.time_base = base
                    packet.pts = packet.dts = written
                    packet.duration = samples
                    out.mux(packet)
                    written += samples


def concat_copy(
    parts: Sequence[tuple[Path, float]],
    dest: Path,
    profile: OutputProfile,
    *,
    timeout_s: float,
    faststart: bool = True,
    packets: int | None = None,
    inpoints: Sequence[float] | None = None,
    audio: Sequence[AudioPart] = (),
) -> Path:
    """Stream-copy `parts` ((file, video seconds), all in `profile`) into `dest`.

    `packets` (video + audio, estimated) sizes the index reserved at the front of an MP4;
    `inpoints` say where each part's picture starts (0 by default); `audio`, joined packet by
    packet while FFmpeg runs (`joined_audio_pipe`), replaces the parts' own."""
    listing = write_concat_list(parts, dest.with_name(dest.name + ".ffconcat"), inpoints)
    inputs: list[str | Path] = ["-f", "concat", "-safe", "0", "-i", listing]

    def run(muxing: list[str]) -> None:
        copy: list[str | Path] = ["-c", "copy", "-map_metadata", "-1", *muxing, dest]
        if not audio:
            maps = ["-map", "0:v:0", *(["-map", "0:a:0"] if profile.has_audio else [])]
            run_ffmpeg([*inputs, *maps, *copy], step="concat", timeout_s=timeout_s)
            return
        with joined_audio_pipe(audio, profile.audio_rate) as (pipe, start_joining):
            # FFmpeg starts an input's timeline at its earliest packet of any stream, mapped or
            # not: the parts' own audio, seeked to before zero, would delay the picture by its
            # priming.
            joined = ["-f", "nut", "-i", f"pipe:{pipe}", "-map", "0:v:0", "-map", "1:a:0"]
            run_ffmpeg(
                ["-copyts", *inputs, *joined, *copy],
                step="concat",
                timeout_s=timeout_s,
                pass_fds=(pipe,),
                feed=start_joining,
            )

    try:
        if faststart and profile.format == "mp4" and packets is not None:
            try:
                moov = MOOV_BASE_BYTES + MOOV_BYTES_PER_PACKET * packets
                run([*muxer_args(profile), "-moov_size", str(moov)])
                return dest
            except FFmpegError as exc:
                if "reserved_moov_size" not in exc.line:
                    raise
        run(muxer_args(profile, faststart=faststart))
    finally:
        listing.unlink(missing_ok=True)
    return dest
