"""Compile benchmarks: copy path vs bare FFmpeg concat, selective re-encode, memory, scaling.

Run: python benchmarks/compile_bench.py [--quick] [--repeats N] [--baseline DIR]
(figures go into docs/PERFORMANCE.md). `--baseline DIR` times another engine beside this one,
interleaved in the same run, in the copy-path and scaling sections: DIR holds its
`vsl_pipelines/`, e.g. `git archive REV vsl_pipelines | tar -x -C DIR`.
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
from collections.abc import Callable
from pathlib import Path

from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.options import CompileOptions

FF = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]


def make_clip(dest: Path, *, size: str, seconds: float, tone: int, crf: int = 23,
              rate: int = 48000) -> Path:  # fmt: skip
    if not dest.exists():
        subprocess.run(
            [*FF, "-f", "lavfi", "-t", str(seconds), "-i", f"testsrc2=s={size}:r=30",
             "-f", "lavfi", "-t", str(seconds), "-i", f"sine=f={tone}:r={rate}",
             "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf), "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-ac", "2", str(dest)],
            check=True,
        )  # fmt: skip
    return dest


def bare_concat(clips: list[Path], out: Path) -> float:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    started = time.perf_counter()
    subprocess.run([*FF, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)],
                   check=True)  # fmt: skip
    return time.perf_counter() - started


def timed_compile(clips: list[Path], out: Path, **options: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = compile_video(clips, out, CompileOptions(verify=False, **options))  # type: ignore[arg-type]
    return time.perf_counter() - started, result


BASELINE_WORKER = """
import json, sys, time
from pathlib import Path
import vsl_pipelines
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.options import CompileOptions
print(json.dumps({"engine": vsl_pipelines.__file__}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    started = time.perf_counter()
    result = compile_video([Path(c) for c in job["clips"]], Path(job["out"]),
                           CompileOptions(verify=False))
    print(json.dumps({"seconds": time.perf_counter() - started, "timings": result.timings}),
          flush=True)
"""


class Baseline:
    """Another engine compiling in a process of its own, timed inside it as `timed_compile`
    times ours (the process is started once, so neither pays for Python or imports)."""

    def __init__(self, tree: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
        # Started in the tree: `python -c` looks in its working folder before PYTHONPATH.
        self.process = subprocess.Popen([sys.executable, "-c", BASELINE_WORKER], env=env,
                                        cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)  # fmt: skip
        engine = json.loads(self._answer())["engine"]
        if not engine.startswith(str(tree.resolve())):
            raise SystemExit(f"--baseline {tree}: its Python imported {engine} instead")

    def _answer(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the baseline engine's process ended")
        return line

    def compile(self, clips: list[Path], out: Path) -> tuple[float, dict[str, float]]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"clips": [str(c) for c in clips], "out": str(out)}))
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        answer = json.loads(self._answer())
        return answer["seconds"], answer["timings"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def interleaved(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each run once per repeat, the order rotated each time (all see the same cache and load),
    after one untimed run each (imports deferred to first use, the page cache)."""
    names = list(runs)
    for name in names:
        runs[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(runs[name]())
    return seconds


def matching_vs_bare(work: Path, repeats: int, *, crf: int, tag: str,
                     baseline: Baseline | None = None) -> dict[str, object]:  # fmt: skip
    """3 x 6 s 1280x720 clips; crf 35 gives ~2.25 MB each (the issue's size), crf 26 ~4.8 MB."""
    clips = [make_clip(work / f"{tag}{i}.mp4", size="1280x720", seconds=6, tone=300 + i, crf=crf)
             for i in range(3)]  # fmt: skip
    size_mb = sum(c.stat().st_size for c in clips) / 1e6
    steps: dict[str, list[dict[str, float]]] = {"ours": [], "baseline": []}

    def ours() -> float:
        seconds, result = timed_compile(clips, work / "ours.mp4")
        steps["ours"].append(result.timings)  # type: ignore[attr-defined]
        return seconds

    def before() -> float:
        assert baseline is not None
        seconds, timings = baseline.compile(clips, work / "baseline.mp4")
        steps["baseline"].append(timings)
        return seconds

    runs = {"bare": lambda: bare_concat(clips, work / "bare.mp4"), "ours": ours}
    if baseline is not None:
        runs["baseline"] = before
    seconds = {name: statistics.median(times) for name, times in interleaved(runs, repeats).items()}
    ours_steps, baseline_steps = steps["ours"][1:], steps["baseline"][1:]  # past the warm-up
    b, o = seconds["bare"], seconds["ours"]
    report = {"clips": 3, "input_mb": round(size_mb, 2), "repeats": repeats,
              "bare_concat_s": round(b, 4), "compile_s": round(o, 4), "ratio": round(o / b, 3),
              "compile_probe_s": round(statistics.median(t["probe"] for t in ours_steps), 4),
              "compile_concat_s": round(statistics.median(t["concat"] for t in ours_steps), 4)}  # fmt: skip
    if baseline is not None:
        before_s = seconds["baseline"]
        report |= {"baseline_compile_s": round(before_s, 4), "baseline_ratio": round(before_s / b, 3),
                   "baseline_concat_s": round(statistics.median(t["concat"] for t in baseline_steps), 4)}  # fmt: skip
    return report


def bare_reencode(clips: list[Path], out: Path, size: str) -> float:
    """FFmpeg alone re-encoding every clip in one pass (concat filter), the engine's settings."""
    width, height = size.split("x")
    fit = (f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
           f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1")  # fmt: skip
    chains = [f"[{i}:v:0]{fit}[v{i}]" for i in range(len(clips))]
    joined = "".join(f"[v{i}][{i}:a:0]" for i in range(len(clips)))
    chains.append(f"{joined}concat=n={len(clips)}:v=1:a=1[v][a]")
    inputs = [arg for clip in clips for arg in ("-i", str(clip))]
    started = time.perf_counter()
    subprocess.run([*FF, *inputs, "-filter_complex", ";".join(chains), "-map", "[v]", "-map", "[a]",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", str(out)],
                   check=True)  # fmt: skip
    return time.perf_counter() - started


def one_in_ten(work: Path, repeats: int, *, odd_rate: int = 48000) -> dict[str, object]:
    """Ten 4 s 640x360 clips, clip 6 is 480x360 (its audio is 48 kHz like the others', or not).

    Three ways, interleaved: the engine's plan (clip 6's picture re-encoded, its audio and the
    other nine clips copied); the engine with `reencode_all` (every clip's video and audio
    re-encoded, one FFmpeg per clip, then concat); FFmpeg alone re-encoding all ten in one
    pass. All encodes use x264 veryfast CRF 20 and AAC 192k."""
    clips = [make_clip(work / f"t{i}.mp4", size="640x360", seconds=4, tone=300 + i)
             for i in range(9)]  # fmt: skip
    odd = make_clip(work / f"odd{odd_rate}.mp4", size="480x360", seconds=4, tone=900, rate=odd_rate)
    clips.insert(5, odd)
    selective, everything, bare, parts = [], [], [], []
    actions: list[str] = []
    for _ in range(repeats):  # interleaved
        seconds, result = timed_compile(clips, work / "sel.mp4")
        selective.append(seconds)
        parts.append(result.timings)  # type: ignore[attr-defined]
        actions = [f"{c.index + 1}: video {c.video}, audio {c.audio}"
                   for c in result.plan.clips if not c.copied]  # type: ignore[attr-defined]  # fmt: skip
        everything.append(timed_compile(clips, work / "all.mp4", reencode_all=True)[0])
        bare.append(bare_reencode(clips, work / "bare_all.mp4", "640x360"))
    sel, full, ff = (statistics.median(x) for x in (selective, everything, bare))
    breakdown = {k: round(statistics.median(p[k] for p in parts), 4) for k in parts[0]}
    return {"clips": 10, "touched": actions, "repeats": repeats,
            "selective_s": round(sel, 3), "selective_breakdown_s": breakdown,
            "reencode_all_s": round(full, 3), "speedup_vs_reencode_all": round(full / sel, 2),
            "ffmpeg_reencode_all_s": round(ff, 3),
            "speedup_vs_ffmpeg_reencode_all": round(ff / sel, 2)}  # fmt: skip


def peak_memory(work: Path, total_mb: int) -> dict[str, object]:
    """Peak RSS of a fresh Python process that only compiles (FFmpeg children not counted)."""
    seconds = 20 if total_mb >= 45 else 4  # ~45 MB or ~9 MB per clip
    clip = make_clip(work / f"big{seconds}.mp4", size="1280x720", seconds=seconds, tone=500, crf=4)
    copies = max(1, round(total_mb * 1e6 / clip.stat().st_size))
    code = (
        "import resource,sys; from pathlib import Path;"
        "from vsl_pipelines.media.compile import compile_video;"
        "from vsl_pipelines.media.options import CompileOptions;"
        f"compile_video([Path({str(clip)!r})]*{copies}, Path({str(work / 'mem.mp4')!r}),"
        " CompileOptions(verify=False));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return {"input_mb": round(copies * clip.stat().st_size / 1e6), "clips": copies,
            "peak_rss_mb": round(int(out.stdout.split()[-1]) / 1024, 1),
            "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def scaling(work: Path, counts: list[int], repeats: int,
            baseline: Baseline | None = None) -> list[dict[str, object]]:  # fmt: skip
    clip = make_clip(work / "tiny.mp4", size="320x180", seconds=1, tone=700)
    rows = []
    for count in counts:
        clips = [clip] * count
        results: list[dict[str, float]] = []

        def ours(clips: list[Path] = clips, results: list[dict[str, float]] = results) -> float:
            seconds, result = timed_compile(clips, work / "n.mp4")
            results.append(result.timings)  # type: ignore[attr-defined]
            return seconds

        runs: dict[str, Callable[[], float]] = {"ours": ours}
        if baseline is not None:
            runs["baseline"] = lambda clips=clips: baseline.compile(clips, work / "b.mp4")[0]  # type: ignore[misc]
        seconds = {name: statistics.median(t) for name, t in interleaved(runs, repeats).items()}
        row = {"clips": count, "input_mb": round(count * clip.stat().st_size / 1e6, 2),
               "repeats": repeats, "compile_s": round(seconds["ours"], 3),
               "probe_s": round(statistics.median(t["probe"] for t in results[1:]), 3),
               "concat_s": round(statistics.median(t["concat"] for t in results[1:]), 3)}  # fmt: skip
        if baseline is not None:
            row["baseline_compile_s"] = round(seconds["baseline"], 3)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 1 GB memory run")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--baseline", type=Path, help="a tree holding another vsl_pipelines/")
    args = parser.parse_args()
    baseline = Baseline(args.baseline) if args.baseline else None
    with tempfile.TemporaryDirectory(prefix="vsl-bench-") as tmp:
        work = Path(tmp)
        repeats = max(3, args.repeats // 4)
        report: dict[str, object] = {
            "matching_vs_bare_2.3mb": matching_vs_bare(work, args.repeats, crf=35, tag="s",
                                                       baseline=baseline),
            "matching_vs_bare_4.8mb": matching_vs_bare(work, args.repeats, crf=26, tag="m",
                                                       baseline=baseline),
        }  # fmt: skip
        report["one_mismatch_in_ten"] = one_in_ten(work, repeats)
        report["one_mismatch_in_ten_audio_too"] = one_in_ten(work, repeats, odd_rate=44100)
        report["peak_memory"] = [
            peak_memory(work, mb) for mb in ([10, 100] if args.quick else [10, 100, 1000])
        ]
        report["scaling"] = scaling(work, [10, 100, 500], repeats, baseline)
    if baseline is not None:
        baseline.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
