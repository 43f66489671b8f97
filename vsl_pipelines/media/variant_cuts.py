"""Several cuts of one script that share sections (hook variants): every section compiled once
into a finished part, then each cut joined from its parts by stream copy.

A part is final: its captions are burnt in, its voice mixed under them and the soundtrack's
stretch mixed under that (`part_music`: the music continues across every join, whichever
variants meet there, and each part is at the loudness target), so nothing after it decodes its
picture or its sound; a section shared by every cut is therefore encoded once (per rendition)
and its packets are the same bytes in every cut, and a join copies everything. Every part is
planned at the profile the whole cut would have had, so the joins copy them all. Cuts that are
not slots (a section at two places, cuts of different lengths) get the music mixed per cut
over the joined sound instead, as an ordinary compile mixes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

from vsl_pipelines.media.compile import CompileResult, compile_video
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.media.part_music import (
    music_stretches,
    render_bed,
    score_part,
    verify_scored,
)
from vsl_pipelines.media.plan import CompilePlan, choose_profile
from vsl_pipelines.media.probe import probe_media


class CutsResult(BaseModel):
    """Each cut (its plan's clips are its sections as their parts made them, placed on the
    cut's timeline; `timed_text` there too), each cut's join plan (a clip per part: copied)
    and each section's part, by section id."""

    cuts: dict[str, CompileResult]
    joins: dict[str, CompilePlan]
    parts: dict[str, CompileResult]


def shareable(options: CompileOptions) -> bool:
    """Whether cuts can share parts: MP4 joined by stream copy (a transition crosses two
    sections in one encode; WebM and AVI are compiled whole, cut by cut)."""
    return options.format == "mp4" and options.transition is None and not options.reencode_all


def pinned(sections: Sequence[ClipInput], options: CompileOptions) -> CompileOptions:
    """`options` with the size and rate the whole script would be compiled at, so every
    part, planned alone, is made at the same profile (and the joins copy them)."""
    profile = choose_profile([probe_media(clip.path) for clip in sections], options)
    return options.model_copy(
        update={"size": f"{profile.width}x{profile.height}", "fps": profile.fps}
    )


def compile_cuts(
    sections: Mapping[str, ClipInput],
    cuts: Mapping[str, Sequence[str]],
    outputs: Mapping[str, Path],
    options: CompileOptions,
    work_dir: Path,
) -> CutsResult:
    """Each cut of `cuts` (key -> its section ids, in order) into `outputs[key]`: every section
    of `sections` compiled once into a finished part in `work_dir` (captions, its voice, its
    stretch of the soundtrack: `part_music`), then each cut joined from its parts by stream
    copy. The parts are verified at `options.verify`; a join, which encodes nothing, reads
    every packet (`quick`)."""
    if not shareable(options):
        raise MediaError("cuts share parts only in MP4 without transitions")
    used = list(dict.fromkeys(section for order in cuts.values() for section in order))
    missing = [section for section in used if section not in sections]
    if missing:
        raise MediaError(f"no input for section(s) {', '.join(missing)}")
    common = pinned([sections[s] for s in used], options)
    part_options = common.model_copy(
        update={"soundtrack": None, "poster": False, "thumbnail_strip": False}
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    parts = {
        section: compile_video(
            [sections[section]], work_dir / f"part-{number:03d}.mp4", part_options
        )
        for number, section in enumerate(used)
    }
    scored = options.soundtrack is not None and _score_parts(parts, cuts, common, work_dir)
    join_options = common.model_copy(
        update={
            "captions": False,
            "verify": "quick" if options.verify != "off" else "off",
            **({"soundtrack": None} if scored else {}),
        }
    )
    joined: dict[str, CompileResult] = {}
    joins: dict[str, CompilePlan] = {}
    for key, order in cuts.items():
        inputs = [ClipInput(path=Path(parts[s].output), title=sections[s].title) for s in order]
        result = compile_video(inputs, outputs[key], join_options)
        timed = [
            cue.model_copy(
                update={"start_s": cue.start_s + clip.start_s, "end_s": cue.end_s + clip.start_s}
            )
            for clip, section in zip(result.plan.clips, order, strict=True)
            for cue in parts[section].timed_text
        ]
        burnt = timed if options.captions else []
        made = [
            parts[section]
            .plan.clips[0]
            .model_copy(update={"index": index, "start_s": clip.start_s})
            for index, (clip, section) in enumerate(zip(result.plan.clips, order, strict=True))
        ]
        plan = result.plan.model_copy(update={"clips": made})
        joined[key] = result.model_copy(
            update={"plan": plan, "timed_text": timed, "captions": burnt}
        )
        joins[key] = result.plan
    return CutsResult(cuts=joined, joins=joins, parts=parts)


def _score_parts(
    parts: dict[str, CompileResult],
    cuts: Mapping[str, Sequence[str]],
    options: CompileOptions,
    work_dir: Path,
) -> bool:
    """Lay the soundtrack under every part (`part_music`), in place in `parts`; False (nothing
    done) when the cuts are not slots."""
    spec = options.soundtrack
    assert spec is not None
    profile = next(iter(parts.values())).plan.profile.model_copy(update={"has_audio": True})
    rate = profile.audio_rate
    samples = {section: round(part.duration_s * rate) for section, part in parts.items()}
    stretches = music_stretches(cuts, samples)
    if stretches is None:
        return False
    total = max(stretch.end for stretch in stretches.values())
    bed = render_bed(spec, profile, total, work_dir / "music-bed.wav", options.timeout_s)
    for number, (section, part) in enumerate(parts.items()):
        begun = time.perf_counter()
        dest = work_dir / f"part-{number:03d}-scored.mp4"
        measured, gain = score_part(
            Path(part.output), part.plan.profile.has_audio, bed, stretches[section], spec,
            profile, dest, quality=options.quality, timeout_s=options.timeout_s,
        )  # fmt: skip
        if options.verify != "off":
            verify_scored(dest, profile, part.duration_s)
        timings = {**part.timings, "music": round(time.perf_counter() - begun, 4)}
        note = (
            f"soundtrack laid under the part: the mix at {measured.integrated_lufs:.1f} LUFS,"
            f" {gain:+.2f} dB to {spec.loudness_lufs:g} LUFS"
        )
        plan = part.plan.model_copy(update={"notes": [*part.plan.notes, note]})
        parts[section] = part.model_copy(
            update={
                "output": str(dest),
                "size_bytes": dest.stat().st_size,
                "timings": timings,
                "plan": plan,
            }
        )
    bed.unlink(missing_ok=True)
    return True
