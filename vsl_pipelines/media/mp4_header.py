"""Rewrites the video sample description's avcC inside a finished MP4, in place.

Only the moov box changes and no media byte moves: when moov sits before the media, the
padding FFmpeg reserves after it (`-moov_size` leaves a `free` box) absorbs the growth; when
moov is the file's last box it simply grows. Anything else is left alone (returns False).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

SAMPLE_ENTRY_FIELDS = 78  # VisualSampleEntry bytes between the box header and its child boxes
PADDING_TYPES = {b"free", b"skip"}


def starts_with_ftyp(path: Path) -> bool:
    """An MP4 (ISO BMFF) file: its first box is ftyp, and its moov describes every stream."""
    with path.open("rb") as handle:
        return handle.read(8)[4:] == b"ftyp"


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes laid end to end in buf[start:end]; 32-bit sizes only."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        if size < 8 or pos + size > end:
            return  # a 64-bit or open-ended size: not something this rewrite handles
        yield kind, pos, size
        pos += size


def _child(buf: bytes, parent: tuple[int, int], kind: bytes, skip: int = 8) -> tuple[int, int]:
    offset, size = parent
    for found, pos, length in _boxes(buf, offset + skip, offset + size):
        if found == kind:
            return pos, length
    raise LookupError(kind.decode())


def _video_avcc_path(moov: bytes) -> list[tuple[int, int]]:
    """Offsets and sizes of moov, trak, mdia, minf, stbl, stsd, avc1 and avcC of the video track."""
    root = (0, len(moov))
    for kind, offset, size in _boxes(moov, 8, len(moov)):
        if kind != b"trak":
            continue
        trak = (offset, size)
        mdia = _child(moov, trak, b"mdia")
        hdlr = _child(moov, mdia, b"hdlr")
        if moov[hdlr[0] + 16 : hdlr[0] + 20] != b"vide":
            continue
        minf = _child(moov, mdia, b"minf")
        stbl = _child(moov, minf, b"stbl")
        stsd = _child(moov, stbl, b"stsd")
        entry = _child(moov, stsd, b"avc1", skip=16)  # version/flags and entry count first
        avcc = _child(moov, entry, b"avcC", skip=8 + SAMPLE_ENTRY_FIELDS)
        return [root, trak, mdia, minf, stbl, stsd, entry, avcc]
    raise LookupError("no H.264 video track")


def _top_level(handle) -> list[tuple[bytes, int, int]]:
    boxes = []
    end = handle.seek(0, 2)
    pos = 0
    while pos + 8 <= end:
        handle.seek(pos)
        size, kind = struct.unpack(">I4s", handle.read(8))
        if size == 0:
            size = end - pos
        if size < 8:
            break  # 64-bit sizes (mdat over 4 GB) are read as "stop here"
        boxes.append((kind, pos, size))
        pos += size
    return boxes


def _read_moov(handle) -> tuple[list[tuple[bytes, int, int]], int, bytes]:
    """The top-level boxes, the index of moov among them and its bytes (LookupError: none)."""
    boxes = _top_level(handle)
    index = next((i for i, b in enumerate(boxes) if b[0] == b"moov"), None)
    if index is None:
        raise LookupError("no moov box")
    handle.seek(boxes[index][1])
    return boxes, index, handle.read(boxes[index][2])


def read_video_avcc(path: Path) -> bytes:
    """The avcC payload of the video track's sample description."""
    with path.open("rb") as handle:
        _, _, moov = _read_moov(handle)
    offset, size = _video_avcc_path(moov)[-1]
    return moov[offset + 8 : offset + size]


def replace_video_avcc(path: Path, avcc: bytes) -> bool:
    """Put `avcc` in the video track's sample description; False if it cannot be done in place."""
    with path.open("r+b") as handle:
        try:
            boxes, index, moov = _read_moov(handle)
            path_boxes = _video_avcc_path(moov)
        except LookupError:
            return False
        _, start, _ = boxes[index]
        avcc_offset, avcc_size = path_boxes[-1]
        new_box = struct.pack(">I4s", 8 + len(avcc), b"avcC") + avcc
        delta = len(new_box) - avcc_size
        new_moov = bytearray(moov[:avcc_offset] + new_box + moov[avcc_offset + avcc_size :])
        for offset, box_size in path_boxes[:-1]:
            struct.pack_into(">I", new_moov, offset, box_size + delta)
        if index == len(boxes) - 1:
            handle.seek(start)
            handle.write(new_moov)
            handle.truncate(start + len(new_moov))
            return True
        kind, _, pad_size = boxes[index + 1]
        remaining = pad_size - delta
        if kind not in PADDING_TYPES or not (remaining == 0 or remaining >= 8):
            return False
        handle.seek(start)
        handle.write(new_moov)
        if remaining:
            handle.write(struct.pack(">I4s", remaining, b"free"))
        return True
