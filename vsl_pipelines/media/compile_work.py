"""One compile's work in progress, handed to each step that joins its clips: the plan, the
options, the work folder, the time left and the steps' timings (`compile.compile_video`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vsl_pipelines.media.captions import CaptionCue
from vsl_pipelines.media.errors import FFmpegTimeout
from vsl_pipelines.media.options import CompileOptions
from vsl_pipelines.media.plan import CompilePlan
from vsl_pipelines.media.probe import MediaProbe
from vsl_pipelines.media.profile import OutputProfile


class Deadline:
    """The compile's time budget (`CompileOptions.timeout_s`), shared by every FFmpeg it runs."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.total = seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise FFmpegTimeout("compile", f"time budget of {self.total:.0f} s used up")
        return remaining


@dataclass(frozen=True)
class CompileWork:
    """What the steps of one compile share: the plan with each clip's probe (same order), the
    caller's options and caption cues, the temporary folder the work happens in, the file the
    output is staged in before verification, the deadline, and each step's seconds."""

    plan: CompilePlan
    probes: Sequence[MediaProbe]
    options: CompileOptions
    cues: Sequence[CaptionCue]
    folder: Path
    staged: Path
    deadline: Deadline
    timings: dict[str, float]

    @property
    def profile(self) -> OutputProfile:
        return self.plan.profile
