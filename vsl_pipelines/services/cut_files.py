"""The files of one cut as its compilation stored them (read from the compilation's plan): its
video, each rendition (aspect, size, key) and its delivery files (HLS master, poster, caption
tracks, chapters), for the API's compilation view and the studio's publish fragment.

A compilation without hook variants keeps its files at the top of its plan (`renditions`,
`delivery`); with variants, each cut's are under `plan.cuts[]` by variant key. A rendition may
carry delivery files of its own (`renditions[i].delivery`: `hls`, `poster`), read when there.
The plan is stored JSON: anything not of the expected shape is left out, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RenditionFiles:
    """One final video of a cut at one aspect, and its own delivery files if it has any."""

    aspect: str
    key: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    size_bytes: int | None = None
    hls: str | None = None  # its HLS master playlist's key
    poster: str | None = None


@dataclass(frozen=True)
class DeliveryFiles:
    """A cut's files for a landing page, by key: HLS master, poster, captions by format
    (`vtt`, `srt`), chapters."""

    hls: str | None = None
    poster: str | None = None
    captions: dict[str, str] = field(default_factory=dict)
    chapters: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.hls or self.poster or self.captions or self.chapters)


@dataclass(frozen=True)
class CutFiles:
    """A cut's video (the first rendition, or the only video), renditions and delivery."""

    variant: str
    video: str | None
    renditions: list[RenditionFiles]
    delivery: DeliveryFiles


def _key(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _hls(value: Any) -> str | None:
    """An HLS entry: `{"master": key, ...}` as `services.cuts` stores it, or a key."""
    return _key(value.get("master")) if isinstance(value, dict) else _key(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def delivery_files(value: Any) -> DeliveryFiles:
    if not isinstance(value, dict):
        return DeliveryFiles()
    captions = value.get("captions")
    return DeliveryFiles(
        hls=_hls(value.get("hls")),
        poster=_key(value.get("poster")),
        captions={
            str(fmt): key
            for fmt, raw in (captions.items() if isinstance(captions, dict) else ())
            if (key := _key(raw))
        },
        chapters=_key(value.get("chapters")),
    )


def rendition_files(value: Any) -> RenditionFiles | None:
    if not isinstance(value, dict) or not (key := _key(value.get("key"))):
        return None
    own = value.get("delivery")
    own = own if isinstance(own, dict) else {}
    return RenditionFiles(
        aspect=str(value.get("aspect") or ""),
        key=key,
        width=_integer(value.get("width")),
        height=_integer(value.get("height")),
        duration_s=_number(value.get("duration_s")),
        size_bytes=_integer(value.get("size_bytes")),
        hls=_hls(own.get("hls")),
        poster=_key(own.get("poster")),
    )


def cut_files(plan: dict[str, Any] | None, output_key: str | None, variant: str) -> CutFiles:
    """The files of cut `variant` of a succeeded compilation (its `plan` and `output_key`)."""
    plan = plan if isinstance(plan, dict) else {}
    video, renditions, delivery = output_key, plan.get("renditions"), plan.get("delivery")
    cuts = plan.get("cuts")
    for entry in cuts if isinstance(cuts, list) else ():
        if isinstance(entry, dict) and entry.get("variant") == variant:
            video = _key(entry.get("key")) or output_key
            renditions, delivery = entry.get("renditions"), entry.get("delivery")
            break
    made = [rendition_files(r) for r in (renditions if isinstance(renditions, list) else ())]
    return CutFiles(
        variant=variant,
        video=video,
        renditions=[r for r in made if r is not None],
        delivery=delivery_files(delivery),
    )
