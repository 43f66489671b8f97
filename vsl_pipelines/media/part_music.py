"""The soundtrack laid under finished parts (hook variants, `variant_cuts`), so that a cut
joins its parts' sound by stream copy as it joins their pictures.

Mixed per cut over the joined sound, the music cost every cut its whole track again: FFmpeg's
`loudnorm` (which works at 192 kHz) and an AAC encode of the full length, most of what a cut
costs once its pictures are copied, and not shrinking with the picture. Here each part carries
its own stretch of the music, at a place in the music that does not depend on the cut:

- The cuts are slots: the i-th section of every cut is one of slot i's variants (as
  `Script.cuts()` makes them). A slot is as long as its longest part; its music is the stretch
  [start, end) of a bed that runs the slots end to end (the soundtrack looped to their length,
  decoded once to PCM at the output's rate).
- A part as long as its slot plays the slot's stretch. A shorter one plays it from the start
  and crossfades over its last second into the stretch's last second, so it ends where the next
  slot's music begins: the music runs on across every join, whichever variants meet there. A
  shorter part of the first slot plays the end of the stretch instead (nothing before it to
  meet), one of the last slot the start (faded out at its end, as a cut's music is).
- The music is ducked under the part's own sound (its voice, already levelled, and the clip's)
  as the compile ducks it under speech, and the part's mix is brought to the soundtrack's
  loudness target by one linear gain measured on it (`ebur128`: integrated loudness and true
  peak), lowered if the true peak would pass the ceiling. Every part at the target, every cut
  joined from them is too (`tests/media/test_variant_cuts.py` measures a cut).

Two short FFmpeg runs per part (the mix measured and written as PCM; the gain applied, encoded
to AAC and muxed with the part's picture copied), once per part however many cuts share it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vsl_pipelines.media.encoders import audio_encoder_args, muxer_args
from vsl_pipelines.media.errors import MediaError, VerificationError
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.graph import FilterGraph
from vsl_pipelines.media.options import SoundtrackSpec
from vsl_pipelines.media.profile import OutputProfile, Quality
from vsl_pipelines.media.soundtrack import audio_format, duck_under
from vsl_pipelines.media.verify import Segment, Verification, verify_output

# How long a shorter part crossfades from its slot's music into the slot's last stretch.
CROSSFADE_S = 1.0
# ebur128's integrated loudness when every block is gated out (silence).
SILENT_LUFS = -70.0

_INTEGRATED = re.compile(r"lavfi\.r128\.I=(-?[\d.]+|-?inf|nan)")
_TRUE_PEAK = re.compile(r"lavfi\.r128\.true_peak=(-?[\d.]+|-?inf|nan)")


@dataclass(frozen=True)
class MusicStretch:
    """Where a part's music comes from in the bed, in samples at the output's rate."""

    start: int  # the slot's start: where the part's music begins (unless `first` and shorter)
    end: int  # the slot's end: where the part's music ends
    samples: int  # the part's own length
    first: bool
    last: bool


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_db: float


def music_stretches(
    cuts: Mapping[str, Sequence[str]], samples: Mapping[str, int]
) -> dict[str, MusicStretch] | None:
    """Each section's stretch of the bed, given each cut's sections in order and each part's
    length in samples; None when the cuts are not slots (of different lengths, or a section at
    two places), where a part's music would depend on the cut."""
    orders = [list(order) for order in cuts.values()]
    if not orders or len({len(order) for order in orders}) != 1 or not orders[0]:
        return None
    slot_of: dict[str, int] = {}
    for order in orders:
        for index, section in enumerate(order):
            if slot_of.setdefault(section, index) != index:
                return None
    count = len(orders[0])
    lengths = [0] * count
    for section, index in slot_of.items():
        lengths[index] = max(lengths[index], samples[section])
    starts = [sum(lengths[:index]) for index in range(count)]
    return {
        section: MusicStretch(
            start=starts[index],
            end=starts[index] + lengths[index],
            samples=samples[section],
            first=index == 0,
            last=index == count - 1,
        )
        for section, index in slot_of.items()
    }


def render_bed(
    spec: SoundtrackSpec, profile: OutputProfile, samples: int, dest: Path, timeout_s: float
) -> Path:
    """The soundtrack looped (or cut) to `samples` at the output's rate and layout, as float
    PCM: every part reads its stretch from it, sample exact."""
    chain = f"aresample={profile.audio_rate},{audio_format(profile)},atrim=end_sample={samples}"
    args: list[str | Path] = ["-stream_loop", "-1", "-i", spec.path, "-map", "0:a:0", "-af", chain]
    run_ffmpeg(
        [*args, "-c:a", "pcm_f32le", "-f", "wav", dest],
        step="soundtrack bed", timeout_s=timeout_s, clip=spec.path,
    )  # fmt: skip
    return dest


def _music_chain(
    graph: FilterGraph, bed: int, stretch: MusicStretch, spec: SoundtrackSpec, rate: int
) -> str:
    """The part's stretch of the bed (`bed` is its input), crossfaded and faded as the module
    says; returns its label."""
    n = stretch.samples
    short = stretch.end - stretch.start > n

    def cut(start: int, length: int, label: str) -> None:
        graph.add(
            f"[{bed}:a:0]atrim=start_sample={start}:end_sample={start + length},"
            f"asetpts=PTS-STARTPTS{label}"
        )

    music = graph.label("m")
    if short and stretch.first and not stretch.last:
        cut(stretch.end - n, n, music)
    elif short and not stretch.last:
        fade = max(1, min(round(CROSSFADE_S * rate), n // 2))
        head, tail = graph.label("h"), graph.label("t")
        cut(stretch.start, n, head)
        cut(stretch.end - fade, fade, tail)
        graph.add(f"{head}{tail}acrossfade=ns={fade}:c1=qsin:c2=qsin{music}")
    else:
        cut(stretch.start, n, music)
    if stretch.last and spec.fade_out_s > 0:
        seconds = n / rate
        fade_s = min(spec.fade_out_s, seconds / 2)
        faded = graph.label("m")
        graph.add(f"{music}afade=t=out:st={seconds - fade_s:.4f}:d={fade_s:.4f}{faded}")
        music = faded
    return music


def _measured(tags: Path) -> Loudness:
    """The integrated loudness and true peak `ebur128` wrote (its last I, its highest peak)."""
    text = tags.read_text() if tags.exists() else ""
    integrated = [float(v) for v in _INTEGRATED.findall(text)]
    peaks = [float(v) for v in _TRUE_PEAK.findall(text)]
    if not integrated:
        raise MediaError("the part's loudness could not be measured", tags)
    lufs = integrated[-1] if math.isfinite(integrated[-1]) else SILENT_LUFS
    peak = max((p for p in peaks if math.isfinite(p)), default=0.0)
    return Loudness(
        integrated_lufs=lufs, true_peak_db=20 * math.log10(peak) if peak > 0 else -math.inf
    )


def gain_db(measured: Loudness, spec: SoundtrackSpec) -> float:
    """The linear gain that brings `measured` to the target, lowered so the true peak stays at
    or under the ceiling (none for silence)."""
    if measured.integrated_lufs <= SILENT_LUFS:
        return 0.0
    gain = spec.loudness_lufs - measured.integrated_lufs
    return min(gain, spec.true_peak_db - measured.true_peak_db)


def score_part(
    part: Path,
    has_audio: bool,
    bed: Path,
    stretch: MusicStretch,
    spec: SoundtrackSpec,
    profile: OutputProfile,
    dest: Path,
    *,
    quality: Quality = "standard",
    timeout_s: float = 600.0,
) -> tuple[Loudness, float]:
    """`part` with its stretch of the music ducked under its sound, at the loudness target,
    into `dest` (the picture copied); returns the mix's loudness before the gain and the gain."""
    rate, n = profile.audio_rate, stretch.samples
    fmt = audio_format(profile)
    graph = FilterGraph()
    graph.add_input(["-i", part])
    bed_in = graph.add_input(["-i", bed])
    music = _music_chain(graph, bed_in, stretch, spec, rate)
    mixed = graph.label("x")
    if has_audio:
        leveled = graph.label("g")
        graph.add(f"{music}volume={spec.music_gain_db}dB{leveled}")
        own = graph.label("v")
        # Resynced to its timestamps and exactly as long as the part, as the compile's mix does.
        graph.add(
            f"[0:a:0]aresample={rate}:async=1:min_hard_comp=0.01:first_pts=0,{fmt},"
            f"apad,atrim=end_sample={n}{own}"
        )
        voice, under = duck_under(graph, own, leveled) if spec.ducking else (own, leveled)
        graph.add(
            f"{voice}{under}amix=inputs=2:duration=first:normalize=0,"
            f"atrim=end_sample={n},asetpts=N/SR/TB{mixed}"
        )
    else:
        graph.add(f"{music}anull{mixed}")
    tags = dest.with_suffix(".r128.txt")
    mix = dest.with_suffix(".mix.wav")
    measured_mix = graph.label("r")
    graph.add(
        f"{mixed}ebur128=metadata=1:peak=true,ametadata=mode=print:file={tags},{fmt}{measured_mix}"
    )
    run_ffmpeg(
        [*graph.args(), "-map", measured_mix, "-c:a", "pcm_f32le", "-f", "wav", mix],
        step="soundtrack under a part", timeout_s=timeout_s, clip=part,
    )  # fmt: skip
    measured = _measured(tags)
    gain = gain_db(measured, spec)
    args: list[str | Path] = ["-i", part, "-i", mix, "-map", "0:v:0", "-map", "1:a:0"]
    args += ["-c:v", "copy", "-af", f"volume={gain:.3f}dB,{fmt}"]
    args += [*audio_encoder_args(profile, quality), "-map_metadata", "-1"]
    args += [*muxer_args(profile, faststart=True), dest]
    run_ffmpeg(args, step="soundtrack gain", timeout_s=timeout_s, clip=part)
    mix.unlink(missing_ok=True)
    tags.unlink(missing_ok=True)
    return measured, gain


def verify_scored(dest: Path, profile: OutputProfile, duration_s: float) -> Verification:
    """The scored part read through and its sound decoded (its picture is the part's, copied
    and verified when the part was made)."""
    checked = verify_output(
        dest, profile, duration_s, has_audio=True, level="quick",
        segments=[Segment(start_s=0.0, video_encoded=False, audio_encoded=True)],
    )  # fmt: skip
    if not checked.ok:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checked.failures())
        raise VerificationError(f"part with its music failed verification ({failed})", dest)
    return checked
