"""The media store interface every backend implements (keys like `scripts/{id}/{section}/clip-v1.mp4`)."""

from __future__ import annotations

from pathlib import Path
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
