"""`vsl compile` as a whole process against a bare FFmpeg concat, side by side in one run.

Three matching ~2.3 MB H.264/AAC clips (3 x 6 s 1280x720, as in compile_bench.py); each repeat
runs, in an order that rotates every repeat:
  - bare:  ffmpeg -f concat -safe 0 -i list.txt -c copy out.mp4   (the imageio-ffmpeg binary)
  - quick: vsl compile --out OUT CLIPS...                           (default verification)
  - full:  vsl compile --verify full --out OUT CLIPS...
plus rows that show where the time goes: the venv's Python doing nothing; `vsl compile --help`
(Python, click, the `vsl` group callback's settings and logging, no media engine); and the
compile command run without the group (`python -c "...compile_command()"`, default level): what
`vsl compile` would cost if the group callback did not import the settings.

Every figure is the wall time of a fresh process, as a user meets it. Child processes may
write bytecode caches (PYTHONDONTWRITEBYTECODE is dropped for them, one warm-up run each).

Run: python benchmarks/cli_compile_bench.py [--repeats N]   (figures go into docs/PERFORMANCE.md)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_bench import make_clip

from vsl_pipelines.media.binaries import ffmpeg_path

VSL = str(Path(sys.executable).with_name("vsl"))


def commands(clips: list[Path], work: Path) -> dict[str, list[str]]:
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    names = [str(c) for c in clips]
    bare = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "vsl compile --help": [VSL, "compile", "--help"],
        "bare ffmpeg concat -c copy": [*bare, "-f", "concat", "-safe", "0", "-i", str(listing),
                                       "-c", "copy", str(work / "bare.mp4")],
        "vsl compile (quick)": [VSL, "compile", "--out", str(work / "quick.mp4"), *names],
        "vsl compile --verify full": [VSL, "compile", "--verify", "full",
                                      "--out", str(work / "full.mp4"), *names],
        "compile command without the group (quick)": [
            sys.executable, "-c",
            "from vsl_pipelines.cli.compile import compile_command; compile_command()",
            "--out", str(work / "alone.mp4"), *names],
    }  # fmt: skip


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["VSL_LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryDirectory(prefix="vsl-cli-bench-") as tmp:
        work = Path(tmp)
        clips = [make_clip(work / f"c{i}.mp4", size="1280x720", seconds=6, tone=300 + i, crf=35)
                 for i in range(3)]  # fmt: skip
        todo = commands(clips, work)
        names = list(todo)
        engine: dict[str, dict[str, list[float]]] = {}
        for name in names:  # warm-up: bytecode caches, page cache
            run(todo[name], env)
        times: dict[str, list[float]] = {name: [] for name in names}
        for repeat in range(args.repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                seconds, stdout = run(todo[name], env)
                times[name].append(seconds)
                if stdout.startswith("{"):
                    timings = json.loads(stdout)["timings"]
                    steps = engine.setdefault(name, {})
                    for step, value in timings.items():
                        steps.setdefault(step, []).append(value)
        bare = statistics.median(times["bare ffmpeg concat -c copy"])
        report = {
            "clips": [f"{c.stat().st_size / 1e6:.2f} MB" for c in clips],
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "commands": {
                name: {
                    "median_s": round(statistics.median(values), 4),
                    "p90_s": round(p90(values), 4),
                    "min_s": round(min(values), 4),
                    "ratio_to_bare_median": round(statistics.median(values) / bare, 2),
                }
                for name, values in times.items()
            },
            "engine_steps_median_s": {
                name: {step: round(statistics.median(v), 4) for step, v in steps.items()}
                for name, steps in engine.items()
            },
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
