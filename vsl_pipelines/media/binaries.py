"""Where the FFmpeg binary comes from: `FFMPEG_BINARY`, else the one the imageio-ffmpeg wheel ships.

The project installs FFmpeg through its own dependencies, so a fresh machine needs no system package.
The wheel's binary is found in its package folder without importing `imageio_ffmpeg`, whose import
and `ffmpeg -version` check cost every `vsl compile` ~35 ms of start-up (measured); anything
unusual (`IMAGEIO_FFMPEG_EXE`, no bundled binary) is left to `imageio_ffmpeg.get_ffmpeg_exe`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path


@lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    bundled = None if os.environ.get("IMAGEIO_FFMPEG_EXE") else _bundled_binary()
    if bundled:
        return bundled
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _bundled_binary() -> str | None:
    """The one executable `ffmpeg-*` in the imageio-ffmpeg wheel's `binaries` folder, if any."""
    spec = find_spec("imageio_ffmpeg")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "binaries"
    found = [str(p) for p in folder.glob("ffmpeg-*") if p.is_file() and os.access(p, os.X_OK)]
    return found[0] if len(found) == 1 else None
