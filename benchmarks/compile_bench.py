"""Compile benchmarks: copy path vs bare FFmpeg concat, selective re-encode, memory, scaling.

Run: python benchmarks/compile_bench.py [--quick] [--repeats N]   (figures go into docs/PERFORMANCE.md)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
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


def matching_vs_bare(work: Path, repeats: int, *, crf: int, tag: str) -> dict[str, object]:
    """3 x 6 s 1280x720 clips; crf 35 gives ~2.25 MB each (the issue's size), crf 26 ~4.8 MB."""
    clips = [make_clip(work / f"{tag}{i}.mp4", size="1280x720", seconds=6, tone=300 + i, crf=crf)
             for i in range(3)]  # fmt: skip
    size_mb = sum(c.stat().st_size for c in clips) / 1e6
    bare, ours, probe, concat = [], [], [], []
    for _ in range(repeats):  # interleaved so both see the same cache and load
        bare.append(bare_concat(clips, work / "bare.mp4"))
        seconds, result = timed_compile(clips, work / "ours.mp4")
        ours.append(seconds)
        probe.append(result.timings["probe"])  # type: ignore[attr-defined]
        concat.append(result.timings["concat"])  # type: ignore[attr-defined]
    b, o = statistics.median(bare), statistics.median(ours)
    return {"clips": 3, "input_mb": round(size_mb, 2), "repeats": repeats,
            "bare_concat_s": round(b, 4), "compile_s": round(o, 4), "ratio": round(o / b, 3),
            "compile_probe_s": round(statistics.median(probe), 4),
            "compile_concat_s": round(statistics.median(concat), 4)}  # fmt: skip


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


def scaling(work: Path, counts: list[int]) -> list[dict[str, object]]:
    clip = make_clip(work / "tiny.mp4", size="320x180", seconds=1, tone=700)
    rows = []
    for count in counts:
        seconds, result = timed_compile([clip] * count, work / f"n{count}.mp4")
        rows.append({"clips": count, "input_mb": round(count * clip.stat().st_size / 1e6, 2),
                     "compile_s": round(seconds, 3),
                     "probe_s": result.timings["probe"], "concat_s": result.timings["concat"]})  # type: ignore[attr-defined]  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 1 GB memory run")
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vsl-bench-") as tmp:
        work = Path(tmp)
        report: dict[str, object] = {
            "matching_vs_bare_2.3mb": matching_vs_bare(work, args.repeats, crf=35, tag="s"),
            "matching_vs_bare_4.8mb": matching_vs_bare(work, args.repeats, crf=26, tag="m"),
        }
        repeats = max(3, args.repeats // 4)
        report["one_mismatch_in_ten"] = one_in_ten(work, repeats)
        report["one_mismatch_in_ten_audio_too"] = one_in_ten(work, repeats, odd_rate=44100)
        report["peak_memory"] = [
            peak_memory(work, mb) for mb in ([10, 100] if args.quick else [10, 100, 1000])
        ]
        report["scaling"] = scaling(work, [10, 100, 500])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
