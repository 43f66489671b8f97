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
packet per clip: 100 ms over 25 short clips). So an MP4's audio is joined here first
(`join_audio`): each part's packets from the one that starts with its picture, kept while
they start before the part's end, written back to back; the concat then maps it beside the
joined video. Every join is then within half a packet (10.7 ms at 48 kHz) of its picture,
and the error does not add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vsl_pipelines.media.encoders import muxer_args
from vsl_pipelines.media.errors import FFmpegError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.profile import OutputProfile

QUICK_MP4 = {"threads": "1", "probesize": "32"}  # as `probe.QUICK_MP4`: the moov lists the streams

MOOV_BASE_BYTES = 16384
MOOV_BYTES_PER_PACKET = 24  # measured ~12 (stsz, stts, ctts, stco); twice that for safety


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def write_concat_list(
    parts: Sequence[tuple[Path, float]], dest: Path, inpoints: Sequence[float] | None = None
) -> Path:
    """The concat demuxer's list: each part from its `inpoint` (0 by default) for its seconds."""
    lines = ["ffconcat version 1.0"]
    for index, (path, seconds) in enumerate(parts):
        inpoint = inpoints[index] if inpoints else 0.0
        lines += [f"file {_quote(path)}", f"inpoint {inpoint:.6f}", f"duration {seconds:.6f}"]
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
    """Write the parts' audio packets back to back into `dest` (an MP4 audio track).

    From each part: the packets after `from_s` that no edit list hides, while they start
    before the part's end (a packet is kept when most of it falls inside), timestamped by the
    samples written so far, so the track has no gap or overlap a player could read otherwise.
    The plan copies only audio with a packet boundary at `from_s` (`audio_join_mismatches`)."""
    import av  # deferred: importing PyAV costs start-up where nothing is joined

    base = Fraction(1, rate)
    half_sample = base / 2
    written = 0  # samples
    with av.open(str(dest), "w", format="mp4") as out:
        track = None
        for part in parts:
            end = round(part.end_s * rate)
            start = Fraction(part.from_s) - half_sample
            with av.open(str(part.path), options=QUICK_MP4) as source:
                stream = source.streams.audio[0]
                if track is None:
                    track = out.add_stream_from_template(stream)
                    track.time_base = base
                # Every packet decodes to a whole frame, the last one too (its shorter duration
                # in the file only marks where the sound ended): the first packet's length.
                frame = stream.codec_context.frame_size
                for packet in source.demux(stream):
                    if packet.pts is None or not packet.size or packet.is_discard:
                        continue
                    if packet.pts * packet.time_base < start:
                        continue
                    frame = frame or round((packet.duration or 0) * packet.time_base * rate)
                    samples = frame or 1024
                    if 2 * written + samples > 2 * end:
                        break
                    packet.stream = track
                    packet.time_base = base
                    packet.pts = packet.dts = written
                    packet.duration = samples
                    out.mux(packet)
                    written += samples
    return dest


def concat_copy(
    parts: Sequence[tuple[Path, float]],
    dest: Path,
    profile: OutputProfile,
    *,
    timeout_s: float,
    faststart: bool = True,
    packets: int | None = None,
    inpoints: Sequence[float] | None = None,
    audio: Path | None = None,
) -> Path:
    """Stream-copy `parts` ((file, video seconds), all in `profile`) into `dest`.

    `packets` (video + audio, estimated) sizes the index reserved at the front of an MP4;
    `inpoints` say where each part's picture starts (0 by default); `audio`, the track
    `join_audio` wrote, replaces the parts' own."""
    listing = write_concat_list(parts, dest.with_name(dest.name + ".ffconcat"), inpoints)
    inputs: list[str | Path] = ["-f", "concat", "-safe", "0", "-i", listing]
    maps = ["-map", "0:v:0"]
    if audio is not None:
        # FFmpeg starts an input's timeline at its earliest packet of any stream, mapped or not:
        # the parts' own audio, seeked to before zero, would delay the picture by its priming.
        inputs = ["-copyts", *inputs, "-i", audio]
        maps += ["-map", "1:a:0"]
    elif profile.has_audio:
        maps += ["-map", "0:a:0"]
    args: list[str | Path] = [*inputs, *maps, "-c", "copy", "-map_metadata", "-1"]
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
