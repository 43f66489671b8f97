"""What one more hook variant costs, against compiling the whole video again (issue 27).

A sales letter's shape: a hook of one narrated section (`--hook-s`, 4 s) and a body of
`--body` narrated sections (20 of 6 s each, clips and zooming stills taking turns), 1920x1080 at
30 fps (`--size`, `--fps`), captions burnt in, a soundtrack, `verify` full as the Dagster
compile runs. Each repeat runs, in an order that rotates every repeat:
  - whole:        one cut compiled as a script without variants is (`compile_video`)
  - two hooks:    two cuts sharing the body (`variant_cuts.compile_cuts`)
  - three hooks:  three cuts sharing the body
The third variant costs `three hooks - two hooks` (its part encoded, its cut joined by copy,
the music mixed over its sound), set beside `whole`. Each case is measured in CPU seconds (this
process and its FFmpeg children: what the compile costs, whatever else the machine runs) and
in wall seconds.

Run: python benchmarks/variants_bench.py [--repeats N] [--body N] [--size WxH] [--fps N]
(figures: docs/PERFORMANCE.md)
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.options import ClipInput, CompileOptions, SoundtrackSpec
from vsl_pipelines.media.variant_cuts import compile_cuts
from vsl_pipelines.sandbox.speech import render_tone

HOOKS = ("Tired of deciding what to cook?", "Dinner, planned in ten minutes.", "Still no plan?")


def _ffmpeg(*args: str | Path) -> None:
    base = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run([*base, *map(str, args)], check=True)


def sections(
    folder: Path, body: int, hook_s: float, size: str = "1920x1080", fps: int = 30
) -> dict[str, ClipInput]:
    """Three hook variants and `body` shared sections, each with its voice and caption."""
    made: dict[str, ClipInput] = {}
    for number, words in enumerate(HOOKS):
        clip = folder / f"hook{number}.mp4"
        _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={hook_s}",
                "-vf", f"hue=h={number * 90}", "-c:v", "libx264", "-preset", "veryfast",
                "-pix_fmt", "yuv420p", clip)  # fmt: skip
        voice = folder / f"hook{number}.wav"
        render_tone(hook_s - 0.4, voice)
        made[f"hook~{'abc'[number]}"] = ClipInput(
            path=clip, narration=voice, caption=words, title="hook"
        )
    still = folder / "still.png"
    _ffmpeg("-f", "lavfi", "-i", f"smptehdbars=s={size}", "-frames:v", "1", still)
    clip = folder / "body.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d=6", "-c:v", "libx264",
            "-preset", "veryfast", "-pix_fmt", "yuv420p", clip)  # fmt: skip
    for number in range(body):
        voice = folder / f"body{number}.wav"
        render_tone(5.6, voice)
        made[f"s{number}"] = ClipInput(
            path=still if number % 2 else clip, zoom=bool(number % 2), narration=voice,
            caption=f"Part {number + 1} of the offer, as the voice says it.", title=f"s{number}",
        )  # fmt: skip
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--body", type=int, default=20)
    parser.add_argument("--hook-s", type=float, default=4.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vsl-variants-bench-") as tmp:
        folder = Path(tmp)
        inputs = sections(folder, args.body, args.hook_s, args.size, args.fps)
        music = folder / "music.m4a"
        _ffmpeg("-f", "lavfi", "-i", "sine=f=220:r=44100", "-t", "20", "-c:a", "aac", music)
        options = CompileOptions(
            captions=True, verify="full", soundtrack=SoundtrackSpec(path=music)
        )
        body = [key for key in inputs if not key.startswith("hook")]

        def whole() -> object:
            order = [inputs["hook~a"], *(inputs[key] for key in body)]
            return compile_video(order, folder / "whole.mp4", options)

        def hooks(count: int) -> Callable[[], object]:
            cuts = {hook: [hook, *body] for hook in ("hook~a", "hook~b", "hook~c")[:count]}
            outputs = {hook: folder / f"cut-{count}-{hook[-1]}.mp4" for hook in cuts}
            return lambda: compile_cuts(inputs, cuts, outputs, options, folder / f"parts{count}")

        cases: dict[str, Callable[[], object]] = {
            "whole video": whole,
            "two hooks": hooks(2),
            "three hooks": hooks(3),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for repeat in range(args.repeats):
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                started, used = time.perf_counter(), cpu_seconds()
                cases[name]()
                times[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - used)
        length = compile_video([inputs["hook~a"]], folder / "probe.mp4", options).duration_s
        print(
            f"{args.body} body sections of 6 s, hooks of {length:.1f} s, {args.size} {args.fps} fps,"
            f" {args.repeats} repeats, median (min-max): | case | CPU s | wall s |"
        )
        for name in cases:
            print(f"| {name} | {_spread(cpu[name])} | {_spread(times[name])} |")
        for unit, figures in (("CPU", cpu), ("wall", times)):
            third = [
                c - b for b, c in zip(figures["two hooks"], figures["three hooks"], strict=True)
            ]
            share = statistics.median(third) / statistics.median(figures["whole video"])
            print(
                f"the third hook (three - two, per repeat), {unit}: {_spread(third)} s,"
                f" {share:.3f} of the whole video"
            )


def cpu_seconds() -> float:
    """User and system time of this process and of its children that ended (FFmpeg's)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
