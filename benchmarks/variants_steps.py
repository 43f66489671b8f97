"""The third hook's own work, step by step in one process (issue 27): what
`variants_bench.py` gets as a difference of two large cases, which a loaded machine makes swing
by several seconds, measured here step by step in CPU seconds (this process and its FFmpeg
children), twice each:

  - part:          the hook's section compiled into a finished part (fitted to its voice,
                   then captioned: two encodes of its picture)
  - music:         the soundtrack's stretch laid under the part (`part_music`: two short
                   FFmpeg runs, the sound verified)
  - join by copy:  the cut joined from the parts, pictures and sound copied, verified quick
  - join re-mixing (before): the join as it was, the music mixed over the cut's whole sound
                   with `loudnorm` and the track encoded to AAC (the ordinary compile with a
                   soundtrack, on the parts without music)

beside the whole video compiled once. The shape and inputs are `variants_bench.py`'s.

Run: python benchmarks/variants_steps.py [--size WxH] [--fps N] [--body N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from variants_bench import _ffmpeg, cpu_seconds, sections

from vsl_pipelines.media import part_music
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.options import ClipInput, CompileOptions, SoundtrackSpec
from vsl_pipelines.media.variant_cuts import compile_cuts, pinned


def timed(work: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    used = cpu_seconds()
    result = work(*args)
    return result, cpu_seconds() - used


def lay_music(
    part: Any, bed: Path, stretch: Any, spec: SoundtrackSpec, profile: Any, dest: Path
) -> None:
    part_music.score_part(Path(part.output), True, bed, stretch, spec, profile, dest)
    part_music.verify_scored(dest, profile, part.duration_s)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--body", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vsl-variants-steps-") as tmp:
        folder = Path(tmp)
        inputs = sections(folder, args.body, 4.0, args.size, args.fps)
        music = folder / "music.m4a"
        _ffmpeg("-f", "lavfi", "-i", "sine=f=220:r=44100", "-t", "20", "-c:a", "aac", music)
        spec = SoundtrackSpec(path=music)
        options = CompileOptions(captions=True, verify="full", soundtrack=spec)
        body = [key for key in inputs if not key.startswith("hook")]
        order = [inputs["hook~a"], *(inputs[key] for key in body)]
        _, whole = timed(compile_video, order, folder / "whole.mp4", options)
        cuts = {hook: [hook, *body] for hook in ("hook~a", "hook~b")}
        outputs = {hook: folder / f"cut-{hook[-1]}.mp4" for hook in cuts}
        made = compile_cuts(inputs, cuts, outputs, options, folder / "parts")
        common = pinned(list(inputs.values()), options)
        part_options = common.model_copy(
            update={"soundtrack": None, "poster": False, "thumbnail_strip": False}
        )
        by_copy = common.model_copy(
            update={"captions": False, "verify": "quick", "soundtrack": None}
        )
        re_mixing = common.model_copy(update={"captions": False, "verify": "quick"})
        profile = made.parts[body[0]].plan.profile
        samples = {s: round(p.duration_s * profile.audio_rate) for s, p in made.parts.items()}
        steps: dict[str, list[float]] = {
            "part": [], "music": [], "join by copy": [], "join re-mixing (before)": [],
        }  # fmt: skip
        for repeat in range(2):
            part, cpu = timed(
                compile_video, [inputs["hook~c"]], folder / f"c{repeat}.mp4", part_options
            )
            steps["part"].append(cpu)
            samples["hook~c"] = round(part.duration_s * profile.audio_rate)
            three = {hook: [hook, *body] for hook in ("hook~a", "hook~b", "hook~c")}
            stretches = part_music.music_stretches(three, samples)
            assert stretches is not None
            total = max(stretch.end for stretch in stretches.values())
            bed = part_music.render_bed(spec, profile, total, folder / "bed.wav", 600)
            scored = folder / f"c{repeat}-scored.mp4"
            _, cpu = timed(lay_music, part, bed, stretches["hook~c"], spec, profile, scored)
            steps["music"].append(cpu)
            copied = [ClipInput(path=scored)] + [
                ClipInput(path=Path(made.parts[s].output)) for s in body
            ]
            _, cpu = timed(compile_video, copied, folder / f"j{repeat}.mp4", by_copy)
            steps["join by copy"].append(cpu)
            plain = [ClipInput(path=Path(part.output))] + [
                ClipInput(path=Path(made.parts[s].output.replace("-scored", ""))) for s in body
            ]
            _, cpu = timed(compile_video, plain, folder / f"m{repeat}.mp4", re_mixing)
            steps["join re-mixing (before)"].append(cpu)
        print(f"{args.size} {args.fps} fps, {args.body} body sections: whole {whole:.2f} CPU s")
        for name, figures in steps.items():
            print(
                f"  {name}: {statistics.median(figures):.2f} ({min(figures):.2f}-{max(figures):.2f})"
            )
        part_s = statistics.median(steps["part"])
        after = (
            part_s + statistics.median(steps["music"]) + statistics.median(steps["join by copy"])
        )
        before = part_s + statistics.median(steps["join re-mixing (before)"])
        print(f"  third hook now {after:.2f} s ({after / whole:.3f} of the whole video),")
        print(f"  with the join as it was {before:.2f} s ({before / whole:.3f})")


if __name__ == "__main__":
    main()
