"""Reads container and stream parameters of one file in-process with PyAV (no ffprobe binary).

Only the first video frame is decoded (for rotation and to prove the stream decodes). The first
packets of each stream are read against what the file shows (`Starts`): a clip trimmed by
stream copy decodes from a keyframe before its first shown frame, an edit list hides AAC's
encoder delay or part of an audio packet, a stream may start after zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from pydantic import BaseModel

from vsl_pipelines.media.avcc import has_idr
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.mp4_header import starts_with_ftyp

MediaKind = Literal["video", "image", "audio"]
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
# One decoder thread: probing decodes one frame, and starting a decoder thread pool for it
# cost ~3 ms per clip.
SINGLE_THREAD = {"threads": "1"}
# An MP4 (ftyp first) describes every stream in its moov box, so find_stream_info need not
# read and decode packets (for H.264 it decodes several frames, 2-4 ms per 720p clip): the
# first-frame decode that `check` does anyway fills in the pixel format, profile and size.
# For small pictures find_stream_info is the cheaper of the two (100 x 320x180 clips: 70 ms
# against 100 ms), for 720p the quick open wins (3 clips: 5.6 against 6.6 ms); the file's size
# stands in for its picture size, which is not known before opening.
QUICK_MP4 = {"threads": "1", "probesize": "32"}
QUICK_MIN_BYTES = 1 << 20
# How many video packets past the first frame the audio's first packet may come after: files
# interleave every second or so; a track that has none by then is taken as it is described.
AUDIO_WAIT_PACKETS = 600
IMAGE_CODECS = {"png", "mjpeg", "webp", "bmp", "tiff", "jpegls", "jpeg2000", "qoi", "pam", "ppm"}


class MediaProbe(BaseModel):
    """What the compiler needs to know about one input; JSON-able via `model_dump()`."""

    path: str
    kind: MediaKind
    container: str
    size_bytes: int
    duration_s: float
    codec: str | None = None
    profile: str | None = None
    width: int = 0
    height: int = 0
    display_width: int = 0
    display_height: int = 0
    sar: str = "1:1"
    pix_fmt: str | None = None
    fps: str | None = None
    fps_float: float | None = None
    time_base: str | None = None
    rotation: int = 0
    frames: int | None = None
    video_duration_s: float | None = None
    h264_config: str | None = None  # the avcC record (parameter sets) in hex, H.264 only
    has_audio: bool = False
    audio_codec: str | None = None
    audio_profile: str | None = None
    audio_rate: int | None = None
    audio_channels: int | None = None
    audio_layout: str | None = None
    audio_duration_s: float | None = None
    # Where the streams start, as FFmpeg reads the file's edit lists (seconds on its timeline):
    start_s: float = 0.0  # the earliest stream's start: FFmpeg's input timeline begins there
    video_start_s: float = 0.0  # the first frame shown
    # Decoded before the first shown frame but hidden by an edit list: a clip trimmed by stream
    # copy between keyframes keeps the frames from the keyframe before its cut.
    video_preroll_s: float = 0.0
    video_key_start: bool = True  # decoding starts on the first shown frame, a keyframe (IDR)
    audio_start_s: float | None = None  # the first sample played
    # How far into its first packet the audio starts (an edit list hides the rest of it, as a
    # trim between packet boundaries leaves it); AAC's whole priming packets are not counted.
    audio_skip_s: float = 0.0
    audio_packet_s: float | None = None  # one audio packet's length (1024 samples for AAC)

    @property
    def fps_fraction(self) -> Fraction | None:
        return Fraction(self.fps) if self.fps else None

    @property
    def time_base_fraction(self) -> Fraction | None:
        return Fraction(self.time_base) if self.time_base else None

    @property
    def h264_record(self) -> bytes | None:
        """The avcC record as bytes (None when not H.264 in MP4/Matroska)."""
        return bytes.fromhex(self.h264_config) if self.h264_config else None

    @property
    def sar_fraction(self) -> Fraction:
        num, den = (int(x) for x in self.sar.split(":"))
        return Fraction(num, den) if num and den else Fraction(1)


def probe_media(path: Path | str, *, check: bool = True) -> MediaProbe:
    """Probe a video, image or audio file; raise `MediaError` naming the file when unusable.

    `check=False` skips decoding the first frame and the truncation checks (rotation reads 0):
    for files this engine has just written and verified."""
    path = Path(path)
    if not path.exists():
        raise MediaError("file not found", path)
    if not path.is_file():
        raise MediaError("not a regular file", path)
    size = path.stat().st_size
    if size == 0:
        raise MediaError("empty file (0 bytes)", path)
    quick = check and size >= QUICK_MIN_BYTES and starts_with_ftyp(path)
    options = QUICK_MP4 if quick else SINGLE_THREAD
    try:
        container = av.open(str(path), metadata_errors="ignore", options=options)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"not a readable media file or truncated ({_reason(exc)})", path) from exc
    with container:
        try:
            return _probe_open(path, size, container, check, quick)
        except av.FFmpegError as exc:
            raise MediaError(f"corrupt or truncated media ({_reason(exc)})", path) from exc


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _probe_open(
    path: Path, size: int, container: av.container.InputContainer, check: bool, quick: bool
) -> MediaProbe:
    fmt = container.format.name
    video = next((s for s in container.streams.video if not _is_attached_picture(s)), None)
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        raise MediaError(f"no video or audio stream (container {fmt})", path)
    container_duration = (
        container.duration / av.time_base if container.duration is not None else None
    )
    fields: dict[str, object] = {
        "path": str(path),
        "container": fmt,
        "size_bytes": size,
    }
    kind: MediaKind
    if video is not None:
        cc = video.codec_context
        is_image = (fmt == "image2" or fmt.endswith("_pipe")) and cc.name in IMAGE_CODECS
        kind = "image" if is_image else "video"
        fps = video.average_rate or video.guessed_rate or video.base_rate
        starts = _first_frames(path, container, video, audio, quick) if check else None
        rotation = starts.rotation if starts else 0
        sar = video.sample_aspect_ratio or cc.sample_aspect_ratio  # after decoding: SPS/VUI
        width, height = cc.width, cc.height
        display = (height, width) if rotation in (90, 270) else (width, height)
        video_duration = _seconds(video.duration, video.time_base)
        if video_duration is None and video.frames and fps:
            video_duration = float(video.frames / fps)
        fields.update(
            codec=cc.name,
            profile=cc.profile,
            width=width,
            height=height,
            display_width=display[0],
            display_height=display[1],
            sar=f"{sar.numerator}:{sar.denominator}" if sar else "1:1",
            pix_fmt=cc.pix_fmt,
            fps=None if kind == "image" or not fps else str(Fraction(fps)),
            fps_float=None if kind == "image" or not fps else round(float(fps), 5),
            time_base=str(video.time_base) if video.time_base else None,
            rotation=rotation,
            frames=video.frames or None,
            h264_config=_avcc_hex(cc) if cc.name == "h264" else None,
            video_duration_s=None if kind == "image" else video_duration,
        )
        if starts is not None and kind == "video":
            avcc = fields["h264_config"]
            fields.update(starts.fields(video, audio, bytes.fromhex(str(avcc)) if avcc else None))
        if kind == "video" and not check:
            pass
        elif kind == "video" and fmt == MP4_FAMILY:
            _check_mp4_index(path, size, video)
        elif kind == "video":
            fields["video_duration_s"] = _video_end(path, container, video, container_duration)
    else:
        kind = "audio"
        if quick and audio is not None:
            _first_frames(path, container, None, audio, True)
    if audio is not None:
        acc = audio.codec_context
        fields.update(
            has_audio=True,
            audio_codec=acc.name,
            audio_profile=acc.profile,
            audio_rate=acc.sample_rate,
            audio_channels=acc.channels,
            audio_layout=acc.layout.name if acc.layout else None,
            audio_duration_s=_seconds(audio.duration, audio.time_base),
        )
    if container.start_time is not None:
        fields["start_s"] = container.start_time / av.time_base
    duration = fields.get("video_duration_s") or container_duration or 0.0
    if kind == "video" and not duration:
        raise MediaError("video stream has no duration (truncated or still being written?)", path)
    return MediaProbe(kind=kind, duration_s=float(duration), **fields)  # type: ignore[arg-type]


def _avcc_hex(cc) -> str | None:
    extradata = cc.extradata
    return extradata.hex() if extradata and extradata[0] == 1 else None


def _is_attached_picture(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


@dataclass
class Starts:
    """The first packets of a clip's streams, read while its first frame is decoded."""

    rotation: int = 0
    video_packet: av.Packet | None = None  # the first video packet, where decoding starts
    video_shown: int | None = None  # pts of the first frame the decoder returns (display order)
    audio_packet: av.Packet | None = None  # the first audio packet no edit list hides entirely

    def fields(self, video, audio, avcc: bytes | None) -> dict[str, object]:
        """`MediaProbe` fields for where the streams start (`avcc`: H.264's avcC record)."""
        fields: dict[str, object] = {}
        first = self.video_packet
        if first is not None and first.pts is not None:
            base = video.time_base
            shown = self.video_shown if self.video_shown is not None else video.start_time
            shown = first.pts if shown is None else shown
            start = float(shown * base)
            key = first.is_keyframe and first.pts <= shown
            if key and avcc:
                key = has_idr(bytes(first), (avcc[4] & 0x03) + 1)  # an IDR, not a recovery point
            fields.update(
                video_start_s=start,
                video_preroll_s=round(max(0.0, start - float(first.pts * base)), 6),
                video_key_start=key,
            )
        packet = self.audio_packet
        if audio is not None and packet is not None and packet.pts is not None:
            base = audio.time_base
            begins = audio.start_time if audio.start_time is not None else packet.pts
            fields.update(
                audio_start_s=float(begins * base),
                audio_skip_s=round(max(0.0, float((begins - packet.pts) * base)), 6),
                audio_packet_s=float(packet.duration * base) if packet.duration else None,
            )
        return fields


def _first_frames(
    path: Path, container: av.container.InputContainer, video, audio, decode_audio: bool
) -> Starts:
    """Decode the first video frame: proves the stream decodes and yields the display rotation.

    Reads the audio's packets up to its first one an edit list does not hide; with
    `decode_audio`, decodes that too (as find_stream_info would: the AAC decoder sets the
    profile). An audio stream that does not decode is left as the demuxer described it."""
    starts = Starts()
    rotation: int | None = None
    audio_done = audio is None
    after = 0  # packets read after the first frame, waiting for the audio's
    streams = [s for s in (video, audio) if s is not None]
    for stream in streams:
        stream.codec_context.thread_count = 1
    for packet in container.demux(streams):
        if video is not None and packet.stream.index == video.index:
            if rotation is not None:
                after += 1
                if after > AUDIO_WAIT_PACKETS:  # an audio track without a packet to play
                    break
                continue
            if starts.video_packet is None and packet.size:
                starts.video_packet = packet
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                raise MediaError(f"video stream does not decode ({_reason(exc)})", path) from exc
            if frames:
                rotation = round(getattr(frames[0], "rotation", 0) or 0) % 360
                starts.video_shown = getattr(frames[0], "pts", None)
        elif not audio_done:
            if not packet.size or packet.is_discard:
                continue
            starts.audio_packet = packet
            try:
                audio_done = not decode_audio or bool(packet.decode())
            except av.FFmpegError:
                audio_done = True
        if (video is None or rotation is not None) and audio_done:
            break
    if video is not None and rotation is None:
        raise MediaError("video stream has no decodable frame", path)
    starts.rotation = rotation or 0
    return starts


def _check_mp4_index(path: Path, size: int, video) -> None:
    """An MP4 whose sample index points past the end of the file was cut short."""
    entries = video.index_entries
    if not entries:
        raise MediaError("video track has no samples (truncated?)", path)
    end = max(entries[-1].pos + entries[-1].size, entries[0].pos + entries[0].size)
    if end > size:
        raise MediaError(f"truncated: samples end at byte {end}, file has {size}", path)


def _video_end(path: Path, container, video, duration: float | None) -> float:
    """Containers without a per-stream duration (Matroska/WebM): demux, not decode, the last
    seconds; the last packet's end is the video's length, and a cut file shows up short."""
    if duration:
        target = max(0.0, duration - 2.0)
        container.seek(int(target * av.time_base), any_frame=False, backward=True)
    end = 0.0
    for packet in container.demux(video):
        if packet.pts is not None:
            step = packet.duration or 0
            end = max(end, float((packet.pts + step) * packet.time_base))
    if end <= 0 or (duration and end < duration - 1.0):
        raise MediaError("truncated: the end of the video stream cannot be read", path)
    return end
