"""Runs the FFmpeg binary with a time bound and turns a failure into an `FFmpegError`.

Every FFmpeg call of the media engine goes through `run_ffmpeg`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from vsl_pipelines.logs import get_logger
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.errors import FFmpegError, FFmpegTimeout

log = get_logger(__name__)

BASE_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y")


GENERIC = ("Terminating thread", "Task finished", "Nothing was written", "Conversion failed")


def last_error_line(stderr: str) -> str:
    """The line that says what went wrong: the first specific error, not the generic epilogue."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    specific = [line for line in lines if not any(g in line for g in GENERIC)]
    for line in specific:
        lowered = line.lower()
        if any(
            word in lowered
            for word in ("error", "invalid", "no such", "not ", "failed", "cannot", "non-standard")
        ):
            return line
    return (specific or lines or ["no error output"])[-1]


def run_ffmpeg(
    args: Sequence[str | Path],
    *,
    step: str,
    timeout_s: float,
    clip: Path | str | None = None,
    pass_fds: Sequence[int] = (),
    feed: Callable[[], None] | None = None,
) -> float:
    """Run `ffmpeg BASE_ARGS args`; return the seconds it took or raise naming step and clip.

    `pass_fds`: descriptors FFmpeg inherits, read as `pipe:FD` inputs; `feed`, called once
    FFmpeg runs, starts what writes into them (started before, a Python thread would hold up
    the spawn, which takes the GIL)."""
    command = [ffmpeg_path(), *BASE_ARGS, *map(str, args)]
    started = time.perf_counter()
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=tuple(pass_fds),
    ) as process:
        try:
            if feed is not None:
                feed()
            _, err = process.communicate(timeout=max(timeout_s, 0.1))
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait()
            raise FFmpegTimeout(step, f"killed after {timeout_s:.1f} s", clip=clip) from exc
        except BaseException:
            process.kill()
            raise
    elapsed = time.perf_counter() - started
    stderr = err.decode("utf-8", "replace")
    if process.returncode != 0:
        raise FFmpegError(step, last_error_line(stderr), clip=clip, returncode=process.returncode)
    log.debug("ffmpeg %s done", step, extra={"fields": {"seconds": round(elapsed, 3)}})
    return elapsed
