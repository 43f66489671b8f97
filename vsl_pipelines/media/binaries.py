"""Where the FFmpeg binary comes from: `FFMPEG_BINARY`, else the one the imageio-ffmpeg wheel ships.

The project installs FFmpeg through its own dependencies, so a fresh machine needs no system package.
"""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
