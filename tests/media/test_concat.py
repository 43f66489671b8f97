"""The joins themselves: the concat list's in-points, and MP4 audio joined packet by packet."""

import hashlib
import threading
from pathlib import Path

import av
import pytest

from vsl_pipelines.media.concat import AudioPart, concat_copy, join_audio, write_concat_list
from vsl_pipelines.media.errors import FFmpegError
from vsl_pipelines.media.profile import OutputProfile

PROFILE = OutputProfile(width=160, height=90, fps="30")

PACKET = 1024  # samples in an AAC packet


def audio_packets(path: Path) -> list[tuple[int, str]]:
    with av.open(str(path)) as container:
        return [
            (p.pts, hashlib.md5(bytes(p)).hexdigest()) for p in container.demux(audio=0) if p.size
        ]


def joining_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "join-audio"]


def shown_packets(path: Path, from_s: float = 0.0) -> list[str]:
    """Digests of the audio packets no edit list hides, from the one starting at `from_s`."""
    with av.open(str(path)) as container:
        return [
            hashlib.md5(bytes(p)).hexdigest()
            for p in container.demux(audio=0)
            if p.size and not p.is_discard and p.pts * p.time_base >= from_s - 1e-6
        ]


def test_concat_list_starts_each_part_at_its_picture(tmp_path):
    listing = write_concat_list(
        [(tmp_path / "a.mp4", 1.0), (tmp_path / "it's.mp4", 2.5)], tmp_path / "l", [0.0, 0.5]
    )
    lines = listing.read_text().splitlines()
    assert lines[1:4] == [f"file '{tmp_path / 'a.mp4'}'", "inpoint 0.000000", "duration 1.000000"]
    assert lines[5:] == ["inpoint 0.500000", "duration 2.500000"]
    assert "'\\''s.mp4" in lines[4]


def test_an_mp4_part_is_opened_without_read_ahead(make_clip, tmp_path):
    """Its moov lists the streams, so the concat demuxer need not decode its first frames to
    learn them; a part in another container is opened as FFmpeg would."""
    parts = [(make_clip(), 1.0), (make_clip(codec="vp9"), 1.0)]
    lines = write_concat_list(parts, tmp_path / "l").read_text().splitlines()
    assert lines[2:5] == ["option probesize 32", "inpoint 0.000000", "duration 1.000000"]
    assert lines[5:] == [f"file '{parts[1][0]}'", "inpoint 0.000000", "duration 1.000000"]


def test_audio_is_joined_back_to_back_without_priming(make_clip, tmp_path):
    """Each part from its first shown packet (the AAC priming packet its edit list hides is
    left out), a packet kept while most of it falls inside the part, timestamps back to back:
    every part starts within half a packet of its place, however many parts."""
    clip = make_clip(seconds=0.7, preset="veryfast", tone=660)  # 32.8 packets of sound
    parts = [AudioPart(path=clip, from_s=0.0, end_s=0.7 * (i + 1)) for i in range(25)]
    joined = join_audio(parts, tmp_path / "audio.m4a", 48000)
    with av.open(str(joined)) as container:
        packets = [p for p in container.demux(audio=0) if p.size]
    assert [p.pts for p in packets] == [i * PACKET for i in range(len(packets))]
    assert not any(p.is_discard for p in packets)
    assert abs(len(packets) * PACKET - 25 * 0.7 * 48000) <= PACKET / 2
    shown = shown_packets(clip)
    digests = [hashlib.md5(bytes(p)).hexdigest() for p in packets]
    starts = [i for i, digest in enumerate(digests) if digest == shown[0]]
    assert len(starts) == 25  # each part begins with the clip's first shown packet
    for number, index in enumerate(starts):
        assert digests[index : index + 32] == shown[:32]
        assert abs(index * PACKET - number * 0.7 * 48000) <= PACKET / 2 + 1e-6


def test_audio_of_a_part_starts_with_its_picture(make_clip, remux, tmp_path):
    """A clip whose picture starts 0.5 s in, after 1,024 samples of sound no edit list hides:
    its sound is taken from the packet that starts with the picture."""
    source = make_clip(seconds=1.0, tone=500)
    late = remux(f"late_{source.name}", "-i", source, "-output_ts_offset", "0.5")
    joined = join_audio([AudioPart(path=late, from_s=0.5, end_s=1.0)], tmp_path / "a.m4a", 48000)
    with av.open(str(joined)) as container:
        packets = [hashlib.md5(bytes(p)).hexdigest() for p in container.demux(audio=0) if p.size]
    assert packets == shown_packets(late, from_s=0.5)[: len(packets)]
    assert len(packets) == pytest.approx(48000 / PACKET, abs=1)


def test_the_concat_reads_the_joined_audio_as_join_audio_writes_it(make_clip, tmp_path):
    """The track streamed to FFmpeg while it joins the pictures (`joined_audio_pipe`) lands in
    the output packet for packet as `join_audio` writes it to a file."""
    clips = [make_clip(seconds=0.7, preset="veryfast", tone=tone) for tone in (300, 500)]
    sounds = [AudioPart(path=c, from_s=0.0, end_s=0.7 * (i + 1)) for i, c in enumerate(clips)]
    joined = concat_copy(
        [(c, 0.7) for c in clips], tmp_path / "out.mp4", PROFILE, timeout_s=60, audio=sounds
    )
    expected = audio_packets(join_audio(sounds, tmp_path / "audio.m4a", 48000))
    assert audio_packets(joined) == expected
    assert not joining_threads()


def test_a_concat_failing_before_it_reads_the_audio_ends_and_says_why(make_clip, tmp_path):
    """FFmpeg never opens the pipe (a part is missing): its error is raised, and the thread
    filling the pipe ends instead of waiting for a reader."""
    clip = make_clip(seconds=1.0)
    with pytest.raises(FFmpegError) as failure:
        concat_copy(
            [(tmp_path / "missing.mp4", 1.0), (clip, 1.0)], tmp_path / "out.mp4", PROFILE,
            timeout_s=60, audio=[AudioPart(path=clip, from_s=0.0, end_s=2.0)] * 2,
        )  # fmt: skip
    assert failure.value.step == "concat"
    assert not joining_threads()


def test_audio_that_cannot_be_joined_fails_the_concat(make_clip, broken_media, tmp_path):
    """The thread joining the audio fails (a part is not media): its error is raised, not the
    one FFmpeg gives for the pipe it closed early."""
    clip = make_clip(seconds=1.0)
    with pytest.raises(av.error.InvalidDataError):
        concat_copy(
            [(clip, 1.0), (clip, 1.0)], tmp_path / "out.mp4", PROFILE, timeout_s=60,
            audio=[AudioPart(path=broken_media["not_media"], from_s=0.0, end_s=1.0)],
        )  # fmt: skip
    assert not joining_threads()
