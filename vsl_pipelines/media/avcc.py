"""H.264 parameter sets as an MP4 sample description holds them (the avcC record, ISO 14496-15).

When copied clips and re-encoded ones are joined, each keeps its own SPS/PPS. Re-encodes use
ids the copied clips do not (`sps_id` of the output profile), and `merge` builds one avcC with
every clip's parameter sets, so a player that reads parameter sets only from the file's header
(as the `avc1` sample entry allows) decodes every clip with its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HIGH_PROFILES = {
    100,
    110,
    122,
    144,
}  # their avcC carries chroma format and bit depths after the PPS
MAX_SPS_ID = 31


class AvcConfigError(ValueError):
    """Not an avcC record, or parameter sets that cannot share one (same id, other content)."""


@dataclass(frozen=True)
class AvcConfig:
    profile: int
    compatibility: int
    level: int
    length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    tail: bytes = b""  # the High-profile fields after the PPS, kept as they are

    @property
    def sps_ids(self) -> set[int]:
        return {sps_id(nal) for nal in self.sps}

    @property
    def pps_ids(self) -> set[int]:
        return {pps_id(nal) for nal in self.pps}

    def to_bytes(self) -> bytes:
        out = bytearray([1, self.profile, self.compatibility, self.level])
        out += bytes([0xFC | (self.length_size - 1), 0xE0 | len(self.sps)])
        for nal in self.sps:
            out += len(nal).to_bytes(2, "big") + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += len(nal).to_bytes(2, "big") + nal
        return bytes(out + self.tail)


def parse_avcc(data: bytes) -> AvcConfig:
    """Read an avcC record (what FFmpeg calls the stream's extradata in MP4 and Matroska)."""
    if len(data) < 7 or data[0] != 1:
        raise AvcConfigError("not an avcC record")
    try:
        pos = 6
        sps, pos = _nal_list(data, pos, data[5] & 0x1F)
        pps, pos = _nal_list(data, pos + 1, data[pos])
    except IndexError:
        raise AvcConfigError("avcC record cut short") from None
    return AvcConfig(
        profile=data[1],
        compatibility=data[2],
        level=data[3],
        length_size=(data[4] & 0x03) + 1,
        sps=tuple(sps),
        pps=tuple(pps),
        tail=bytes(data[pos:]) if data[1] in HIGH_PROFILES else b"",
    )


def _nal_list(data: bytes, pos: int, count: int) -> tuple[list[bytes], int]:
    nals = []
    for _ in range(count):
        size = int.from_bytes(data[pos : pos + 2], "big")
        nal = bytes(data[pos + 2 : pos + 2 + size])
        if len(nal) != size:
            raise IndexError
        nals.append(nal)
        pos += 2 + size
    return nals, pos


def merge(configs: Iterable[AvcConfig]) -> AvcConfig:
    """One record with every distinct parameter set; the first config gives profile and tail.

    Raises `AvcConfigError` when two configs use one id for different parameter sets."""
    configs = list(configs)
    if not configs:
        raise AvcConfigError("nothing to merge")
    first = configs[0]
    sps: dict[int, bytes] = {}
    pps: dict[int, bytes] = {}
    for config in configs:
        if config.length_size != first.length_size:
            raise AvcConfigError("NAL length sizes differ")
        for nal in config.sps:
            _keep(sps, sps_id(nal), nal, "SPS")
        for nal in config.pps:
            _keep(pps, pps_id(nal), nal, "PPS")
    return AvcConfig(
        profile=first.profile,
        compatibility=first.compatibility,
        level=max(c.level for c in configs),
        length_size=first.length_size,
        sps=tuple(sps[i] for i in sorted(sps)),
        pps=tuple(pps[i] for i in sorted(pps)),
        tail=first.tail,
    )


def header_mismatch(sample: bytes, header: AvcConfig) -> str | None:
    """Why a keyframe sample would decode differently from the header's parameter sets alone:
    an in-band SPS/PPS that differs from the header's of that id, or a slice naming a PPS the
    header lacks. None when the header suffices."""
    sps = {sps_id(nal): nal for nal in header.sps}
    pps = {pps_id(nal): nal for nal in header.pps}
    pos, size = 0, header.length_size
    while pos + size < len(sample):
        length = int.from_bytes(sample[pos : pos + size], "big")
        nal = sample[pos + size : pos + size + length]
        pos += size + length
        kind = nal[0] & 0x1F if nal else 0
        if kind in (7, 8):
            name, sets, set_id = (
                ("SPS", sps, sps_id(nal)) if kind == 7 else ("PPS", pps, pps_id(nal))
            )
            if set_id not in sets:
                return f"in-band {name} {set_id} is not in the header"
            if sets[set_id] != nal:
                return f"in-band {name} {set_id} differs from the header's"
        if kind in (1, 5):
            reader = _BitReader(_unescape(nal[1:16]))
            reader.ue()  # first_mb_in_slice
            reader.ue()  # slice_type
            wanted = reader.ue()
            return None if wanted in pps else f"slice uses PPS {wanted}, not in the header"
    return None


def has_idr(sample: bytes, length_size: int) -> bool:
    """Whether a length-prefixed H.264 access unit holds an IDR slice (NAL type 5): a picture
    decoding needs nothing before."""
    pos = 0
    while pos + length_size < len(sample):
        length = int.from_bytes(sample[pos : pos + length_size], "big")
        if sample[pos + length_size] & 0x1F == 5:
            return True
        pos += length_size + length
    return False


class ParameterSets:
    """The parameter sets admitted so far, merged into one header as they come."""

    def __init__(self) -> None:
        self.merged: AvcConfig | None = None

    def admit(self, record: bytes | None) -> str | None:
        """None when the record's sets join the others (then they are kept); else why not."""
        if not record:
            return "no avcC parameter sets"
        try:
            config = parse_avcc(record)
            self.merged = merge([self.merged, config]) if self.merged else config
        except AvcConfigError as exc:
            return f"H.264 parameter sets clash with the copied clips' ({exc})"
        return None

    def free_id(self) -> int:
        """An SPS/PPS id none of the admitted sets uses (x264 gives its PPS the SPS's id)."""
        if self.merged is None:
            return 0
        used = self.merged.sps_ids | self.merged.pps_ids
        return min((i for i in range(MAX_SPS_ID + 1) if i not in used), default=0)


def _keep(sets: dict[int, bytes], set_id: int, nal: bytes, kind: str) -> None:
    if sets.setdefault(set_id, nal) != nal:
        raise AvcConfigError(f"two different {kind}s with id {set_id}")


def sps_id(nal: bytes) -> int:
    """seq_parameter_set_id: after the NAL header, profile, constraint flags and level."""
    return _first_ue(nal[4:12])


def pps_id(nal: bytes) -> int:
    """pic_parameter_set_id: the first field after the NAL header."""
    return _first_ue(nal[1:10])


def _first_ue(payload: bytes) -> int:
    try:
        return _BitReader(_unescape(payload)).ue()
    except IndexError:
        raise AvcConfigError("parameter set cut short") from None


def _unescape(data: bytes) -> bytes:
    """RBSP from NAL payload bytes: drop each emulation-prevention 0x03 after 0x0000."""
    return data.replace(b"\x00\x00\x03", b"\x00\x00")


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos // 8]
        value = (byte >> (7 - self.pos % 8)) & 1
        self.pos += 1
        return value

    def ue(self) -> int:
        """Exp-Golomb unsigned integer."""
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise AvcConfigError("malformed Exp-Golomb code")
        value = 0
        for _ in range(zeros):
            value = value << 1 | self.bit()
        return (1 << zeros) - 1 + value
