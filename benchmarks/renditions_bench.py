"""Renditions and delivery files against one plain compile, on the narrated sample's shape.

Inputs as the sandbox makes them for `config/scripts/spring-launch-narrated.yaml`: two
1024x576 H.264 clips at 6 fps (14 frames, 2.33 s), a 1024x576 keyframe shown as a zooming still,
three voices (espeak-ng when the `speech` extra is installed, else the sandbox's tone of the
same length) and burnt-in captions; `verify` full, as the Dagster compile runs. Each repeat
runs, in an order that rotates every repeat:
  - one:          the plain compile (16:9 only, the clips' own aspect)
  - three crop:   16:9, 9:16, 1:1 (`reframe: crop`, centred on each clip's subject)
  - three blur:   the same over a blurred fill
  - delivery:     HLS ladder, WebVTT and SRT captions, chapters, poster from the 16:9 video

Run: python benchmarks/renditions_bench.py [--repeats N]   (figures go into docs/PERFORMANCE.md)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.delivery import DeliverySpec, chapters_of, package_delivery
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.media.renditions import compile_renditions, rendition_name
from vsl_pipelines.sandbox.speech import render_speech, render_tone, speech_available

WORDS = (
    "Tired of deciding what to cook every single night?",
    "Meet Planwise: a week of dinners planned in ten minutes.",
    "Start your free trial today and take back your evenings.",
)
ASPECTS = ["16:9", "9:16", "1:1"]


def _ffmpeg(*args: str | Path) -> None:
    base = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run([*base, *map(str, args)], check=True)


def sample_inputs(folder: Path) -> list[ClipInput]:
    clip, still = folder / "clip.mp4", folder / "keyframe.png"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1024x576:r=6", "-frames:v", "14",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", clip)  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "smptehdbars=s=1024x576", "-frames:v", "1", still)
    voices = []
    for number, words in enumerate(WORDS):
        voice = folder / f"voice{number}.wav"
        if speech_available():
            render_speech(words, "af_bella", 1.0, voice)
        else:
            render_tone(len(words) / 15, voice)
        voices.append(voice)
    pictures = [(clip, None), (still, True), (clip, None)]
    return [
        ClipInput(path=path, zoom=zoom, narration=voice, caption=words, title=title)
        for (path, zoom), voice, words, title in zip(
            pictures, voices, WORDS, ("hook", "offer", "close"), strict=True
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory(prefix="vsl-renditions-bench-") as tmp:
        folder = Path(tmp)
        inputs = sample_inputs(folder)

        def compile_at(aspects: list[str], reframe: str) -> Callable[[], object]:
            outputs = {a: folder / f"{reframe}-{rendition_name(a)}.mp4" for a in aspects}
            options = CompileOptions(reframe=reframe, verify="full")  # type: ignore[arg-type]
            return lambda: compile_renditions(inputs, outputs, options)

        first = compile_renditions(
            inputs, {"16:9": folder / "main.mp4"}, CompileOptions(verify="full")
        )["16:9"]
        spec = DeliverySpec(hls=True, captions=["vtt", "srt"], chapters=True, poster=True)

        def delivery() -> object:
            return package_delivery(
                folder / "main.mp4", folder / "delivery", "cut", spec,
                cues=first.timed_text, chapters=chapters_of(first.plan),
            )  # fmt: skip

        cases: dict[str, Callable[[], object]] = {
            "one (16:9)": compile_at(["16:9"], "crop"),
            "three, crop": compile_at(ASPECTS, "crop"),
            "three, blur": compile_at(ASPECTS, "blur"),
            "delivery files": delivery,
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for repeat in range(repeats):
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                started = time.perf_counter()
                cases[name]()
                times[name].append(time.perf_counter() - started)
        print(f"video {first.duration_s:.2f} s, {repeats} repeats, median (min-max) seconds")
        for name, seconds in times.items():
            print(
                f"| {name} | {statistics.median(seconds):.2f} "
                f"({min(seconds):.2f}-{max(seconds):.2f}) |"
            )


if __name__ == "__main__":
    main()
