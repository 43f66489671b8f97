"""Errors of the media engine; each one names the file (and the FFmpeg line) that caused it.

Callers show `str(error)` to people, so messages read on their own.
"""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """An input or output file is missing, empty, truncated, not media or unusable."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class FFmpegError(MediaError):
    """FFmpeg exited non-zero; carries the step, the clip and FFmpeg's last error line."""

    def __init__(
        self, step: str, line: str, *, clip: Path | str | None = None, returncode: int | None = None
    ) -> None:
        self.step = step
        self.line = line
        self.returncode = returncode
        where = f" for {clip}" if clip is not None else ""
        super().__init__(f"ffmpeg {step} failed{where}: {line}")
        self.path = str(clip) if clip is not None else None


class FFmpegTimeout(FFmpegError):
    """FFmpeg ran past its time budget and was killed."""


class VerificationError(MediaError):
    """The written output does not match what the plan promised."""
