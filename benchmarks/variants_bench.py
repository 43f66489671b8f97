"""What one more hook variant costs, against compiling the whole video again (issue 27).

A sales letter's shape: a hook of one narrated section (`--hook-s`, 4 s) and a body of
`--body` narrated sections (20 of 6 s each, clips and zooming stills taking turns), 1920x1080 at
30 fps (`--size`, `--fps`), captions burnt in, a soundtrack, `verify` full as the Dagster
compile runs. Each repeat runs, in an order that rotates every repeat:
  - whole:        one cut compiled as a script without variants is (`compile_video`)
  - two hooks:    two cuts sharing the body (`variant_cuts.compile_cuts`)
  - three hooks:  three cuts sharing the body
The third variant costs `three hooks - two hooks` (its part made, its cut joined by copy), set
beside `whole`. Each case runs in a Python process of its own and is measured there in CPU
seconds (that process and its FFmpeg children: what the compile costs, whatever else the
machine runs) and in wall seconds.

`--before DIR` runs every case with the code of DIR too (a `git worktree add DIR REV` of an
earlier commit, sharing this virtualenv), interleaved with this tree's runs on the same inputs,
so both see the same machine.

Run: python benchmarks/variants_bench.py [--repeats N] [--body N] [--size WxH] [--fps N]
     [--before DIR]   (figures: docs/PERFORMANCE.md)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
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
    folder: Path,
    body: int,
    hook_s: float,
    size: str = "1920x1080",
    fps: int = 30,
    *,
    render: bool = True,
) -> dict[str, ClipInput]:
    """Three hook variants and `body` shared sections, each with its voice and caption
    (rendered into `folder`, or with `render` False the ones already there)."""
    made: dict[str, ClipInput] = {}
    for number, words in enumerate(HOOKS):
        clip = folder / f"hook{number}.mp4"
        voice = folder / f"hook{number}.wav"
        if render:
            _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={hook_s}",
                    "-vf", f"hue=h={number * 90}", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", clip)  # fmt: skip
            render_tone(hook_s - 0.4, voice)
        made[f"hook~{'abc'[number]}"] = ClipInput(
            path=clip, narration=voice, caption=words, title="hook"
        )
    still = folder / "still.png"
    clip = folder / "body.mp4"
    if render:
        _ffmpeg("-f", "lavfi", "-i", f"smptehdbars=s={size}", "-frames:v", "1", still)
        _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d=6", "-c:v", "libx264",
                "-preset", "veryfast", "-pix_fmt", "yuv420p", clip)  # fmt: skip
    for number in range(body):
        voice = folder / f"body{number}.wav"
        if render:
            render_tone(5.6, voice)
        made[f"s{number}"] = ClipInput(
            path=still if number % 2 else clip, zoom=bool(number % 2), narration=voice,
            caption=f"Part {number + 1} of the offer, as the voice says it.", title=f"s{number}",
        )  # fmt: skip
    return made


CASES = ("whole video", "two hooks", "three hooks")
RESULT = "variants-bench-result: "


def run_case(name: str, folder: Path, out: Path, args: argparse.Namespace) -> None:
    """Compile case `name` from the inputs in `folder` into `out`; print its CPU and wall
    seconds as JSON (the child process's side)."""
    inputs = sections(folder, args.body, args.hook_s, args.size, args.fps, render=False)
    options = CompileOptions(
        captions=True, verify="full", soundtrack=SoundtrackSpec(path=folder / "music.m4a")
    )
    body = [key for key in inputs if not key.startswith("hook")]
    out.mkdir(parents=True, exist_ok=True)
    started, used = time.perf_counter(), cpu_seconds()
    if name == "whole video":
        order = [inputs["hook~a"], *(inputs[key] for key in body)]
        compile_video(order, out / "whole.mp4", options)
    else:
        count = CASES.index(name) + 1
        cuts = {hook: [hook, *body] for hook in ("hook~a", "hook~b", "hook~c")[:count]}
        outputs = {hook: out / f"cut-{count}-{hook[-1]}.mp4" for hook in cuts}
        compile_cuts(inputs, cuts, outputs, options, out / f"parts{count}")
    figures: dict[str, object] = {
        "cpu": cpu_seconds() - used,
        "wall": time.perf_counter() - started,
    }
    figures["code"] = str(Path(compile_cuts.__code__.co_filename).resolve())
    print(f"{RESULT}{json.dumps(figures)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--body", type=int, default=20)
    parser.add_argument("--hook-s", type=float, default=4.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--before", type=Path, help="a worktree of the code to compare with")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.folder, args.out, args)
        return
    here = Path(__file__).resolve().parents[1]
    trees = {"after": here, **({"before": args.before.resolve()} if args.before else {})}
    with tempfile.TemporaryDirectory(prefix="vsl-variants-bench-") as tmp:
        folder = Path(tmp)
        inputs = sections(folder, args.body, args.hook_s, args.size, args.fps)
        music = folder / "music.m4a"
        _ffmpeg("-f", "lavfi", "-i", "sine=f=220:r=44100", "-t", "20", "-c:a", "aac", music)
        runs = [(tree, case) for tree in trees for case in CASES]
        cpu: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        times: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        for repeat in range(args.repeats):
            shift = repeat % len(runs)
            for tree, case in runs[shift:] + runs[:shift]:
                figures = _child(trees[tree], case, folder, folder / tree, args)
                cpu[tree, case].append(figures["cpu"])
                times[tree, case].append(figures["wall"])
                print(
                    f"repeat {repeat + 1}, {tree}, {case}: CPU {figures['cpu']:.2f} s,"
                    f" wall {figures['wall']:.2f} s",
                    file=sys.stderr, flush=True,
                )  # fmt: skip
        options = CompileOptions(
            captions=True, verify="full", soundtrack=SoundtrackSpec(path=music)
        )
        length = compile_video([inputs["hook~a"]], folder / "probe.mp4", options).duration_s
        print(
            f"{args.body} body sections of 6 s, hooks of {length:.1f} s, {args.size} {args.fps} fps,"
            f" {args.repeats} repeats, median (min-max):"
        )
        for tree in trees:
            print(f"{tree} ({trees[tree]}): | case | CPU s | wall s |")
            for case in CASES:
                print(f"| {case} | {_spread(cpu[tree, case])} | {_spread(times[tree, case])} |")
            for unit, got in (("CPU", cpu), ("wall", times)):
                third = [
                    c - b
                    for b, c in zip(got[tree, "two hooks"], got[tree, "three hooks"], strict=True)
                ]
                share = statistics.median(third) / statistics.median(got[tree, "whole video"])
                print(
                    f"the third hook (three - two, per repeat), {unit}: {_spread(third)} s,"
                    f" {share:.3f} of the whole video"
                )


def _child(
    tree: Path, case: str, folder: Path, out: Path, args: argparse.Namespace
) -> dict[str, float]:
    """Run `case` in a Python process importing the package from `tree`; its figures."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [
        sys.executable, __file__, "--case", case, "--folder", str(folder), "--out", str(out),
        "--body", str(args.body), "--hook-s", str(args.hook_s), "--size", args.size,
        "--fps", str(args.fps),
    ]  # fmt: skip
    run = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    line = next(line for line in run.stdout.splitlines() if line.startswith(RESULT))
    figures = json.loads(line.removeprefix(RESULT))
    if not figures.pop("code").startswith(str(tree)):  # the virtualenv's package, not the tree's
        raise SystemExit(f"{case} did not run the code in {tree}")
    return figures


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
