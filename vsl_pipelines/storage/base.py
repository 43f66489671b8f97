"""The media store interface every backend implements (keys like `scripts/{id}/{section}/clip-v1.mp4`)."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path, PurePosixPath
from typing import Protocol


class MediaStore(Protocol):
    def put_file(self, key: str, source: Path) -> str:
        """Store `source` under `key` atomically (no partial object is ever visible); return its URI."""
        ...

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path:
        """A local file holding the object (the file itself, or a downloaded copy)."""
        ...

    def uri(self, key: str) -> str:
        """Where a person or the UI finds the object (file path or s3:// URI)."""
        ...

    def public_url(self, key: str) -> str:
        """An HTTP URL the generation backend can download the object from."""
        ...

    def cdn_base(self, prefix: str) -> str | None:
        """The CDN URL the objects under `prefix` are served at (`{base}/{rest of key}`), or None
        when a CDN does not serve them all (none configured, or not a script's final prefix)."""
        ...


def media_key(script_id: str, section_id: str, stage: str, take: int, ext: str) -> str:
    """The predictable key of a stored output."""
    return f"scripts/{script_id}/{section_id or '_script'}/{stage}-v{take}.{ext.lstrip('.')}"


# Every stored object says what it is in this tag (S3), so a bucket's lifecycle rules can expire
# one kind and keep another under the same `scripts/{id}/` prefix: a compiled video is the
# deliverable, a preview can be made again, a take is what a new compile is made from.
MEDIA_TAG = "vsl-media"
MEDIA_KINDS = ("take", "preview", "final", "adhoc")


def media_kind(key: str) -> str:
    """What a stored object is, from its key: `final` (a compiled video, its poster), `preview`
    (a section's clip with its voice), `adhoc` (a one-off generation), else `take` (keyframes,
    clips, narrations, soundtracks: what compiles are made from)."""
    if key.startswith("adhoc/"):
        return "adhoc"
    if "/final/" in key:
        return "final"
    if key.rsplit("/", 1)[-1].startswith("preview-"):
        return "preview"
    return "take"


# What the app writes under a script's final prefix (`services.cuts.final_prefix`): the objects
# CloudFront may serve (deploy/aws/delivery.py), so the ones a media CDN URL is given for.
FINAL_KEY = re.compile(r"scripts/[^/]+/final/[^?#]+")


def is_final_key(key: str) -> bool:
    """Whether `key` is a compiled video or a delivery file of a script (`scripts/{id}/final/...`)."""
    return FINAL_KEY.fullmatch(key) is not None


# Types the platform's table lacks or gets wrong for players: HLS playlists and segments,
# caption tracks (a player's <track> wants text/vtt, in UTF-8).
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".jpg": "image/jpeg",
}
# A final object's key names its compilation (`{script}-c{id}`) and is never written with other
# bytes once published, so browsers and the CDN keep it a year without asking again. A playlist
# is the exception: it names the segments a player fetches next, and a ladder packaged again
# (another rung, a fixed segment) must reach players within a minute, not a year.
FINAL_CACHE_CONTROL = "public, max-age=31536000, immutable"
PLAYLIST_CACHE_CONTROL = "public, max-age=60"
PLAYLIST_SUFFIXES = frozenset({".m3u8"})


def content_type(key: str) -> str:
    """The Content-Type an object under `key` is served with."""
    suffix = PurePosixPath(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str | None:
    """The Cache-Control an object under `key` is served with: final videos and their
    delivery files are immutable, their HLS playlists kept a minute; anything else is left to
    the default (revalidated)."""
    if media_kind(key) != "final":
        return None
    if PurePosixPath(key).suffix.lower() in PLAYLIST_SUFFIXES:
        return PLAYLIST_CACHE_CONTROL
    return FINAL_CACHE_CONTROL
