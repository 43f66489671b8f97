"""The script page's "Compile again" form: every choice starts from the script's own output
options (format, size, transition, captions, renditions, reframe, delivery switches) and the
last compilation's quality, so a recompile changes only what the person changes; its post
becomes a compile request.

Renditions are a box per aspect (`renditions-16x9`), listed in the script's order and then the
others, so the script's first rendition (the landing page's) stays first while it is ticked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from vsl_pipelines.domain.script import Output
from vsl_pipelines.media.profile import RENDITION_ASPECTS
from vsl_pipelines.web.studio.forms import OUTPUT_FORMATS, SIZES, TRANSITIONS

QUALITIES = ("draft", "standard", "high")
DEFAULT_QUALITY = "standard"  # the automatic compile's
REFRAMES = ("", "crop", "blur")  # "": the script sets none (crop in a rendition, else fit)
CAPTION_FILES = ("vtt", "srt")
DELIVERY_SWITCHES = ("hls", "chapters", "poster")
RENDITION_FIELD = "renditions-"


def rendition_field(aspect: str) -> str:
    """The form field of an aspect's box: `16:9` -> `renditions-16x9`."""
    return RENDITION_FIELD + aspect.replace(":", "x")


def _aspects(output: Output) -> tuple[str, ...]:
    """Every aspect a compile can make, the script's renditions first in its order."""
    return (*output.renditions, *(a for a in RENDITION_ASPECTS if a not in output.renditions))


@dataclass(frozen=True)
class RecompileForm:
    """The form's initial state and its choices. `size`, `transition` and `reframe` are `""`
    where the script sets none (the clips' own size, a cut, crop in a rendition): a blank
    choice is offered only then, since a compile request can change the script's options but
    not unset them. `delivery` names the landing-page files on (hls, chapters, poster, vtt,
    srt)."""

    format: str
    quality: str
    size: str
    transition: str
    captions: bool
    sizes: tuple[str, ...]
    transitions: tuple[str, ...]
    qualities: tuple[str, ...] = QUALITIES
    renditions: tuple[str, ...] = ()  # the script's, in its order
    aspects: tuple[str, ...] = RENDITION_ASPECTS  # the boxes, in their order
    reframe: str = ""
    reframes: tuple[str, ...] = REFRAMES
    delivery: frozenset[str] = frozenset()

    def fields(self) -> dict[str, str]:
        """What the form posts when nothing is changed (a box unticked is not posted)."""
        fields = {
            "format": self.format,
            "quality": self.quality,
            "size": self.size,
            "transition": self.transition,
            "reframe": self.reframe,
        }
        ticked = [
            *(["captions"] if self.captions else []),
            *(rendition_field(a) for a in self.renditions),
            *(f"delivery-{name}" for name in (*DELIVERY_SWITCHES, *CAPTION_FILES)
              if name in self.delivery),
        ]  # fmt: skip
        return {**fields, **dict.fromkeys(ticked, "on")}

    def field_of(self, aspect: str) -> str:
        return rendition_field(aspect)


def _choices(current: str | None, offered: tuple[str, ...]) -> tuple[str, ...]:
    """The script's own value first (kept even when it is not one of `offered`), then the
    others; the blank choice only when the script has no value."""
    if not current:
        return offered
    return (current, *(c for c in offered if c and c != current))


def recompile_form(output: Output, last_quality: str | None = None) -> RecompileForm:
    return RecompileForm(
        format=output.format,
        quality=last_quality if last_quality in QUALITIES else DEFAULT_QUALITY,
        size=output.size or "",
        transition=output.transition or "",
        captions=output.captions,
        sizes=_choices(output.size, SIZES),
        transitions=_choices(output.transition, TRANSITIONS),
        renditions=tuple(output.renditions),
        aspects=_aspects(output),
        reframe=output.reframe or "",
        reframes=_choices(output.reframe, REFRAMES),
        delivery=_delivery_on(output),
    )


def _delivery_on(output: Output) -> frozenset[str]:
    wanted = output.delivery
    return frozenset([*(n for n in DELIVERY_SWITCHES if getattr(wanted, n)), *wanted.captions])


@dataclass(frozen=True)
class CompileAsked:
    """A compile request as the form asks for it: the options that differ from the
    script's own (those it keeps need no override)."""

    output_format: str
    quality: str
    overrides: dict[str, Any]


def compile_asked(fields: dict[str, str], output: Output) -> CompileAsked:
    """The request a posted form makes (422 naming the field for a format, quality, reframe or
    aspect not offered); an option left as the script has it is no override, an unticked box
    turns its option off (Captions, a rendition, a delivery file)."""
    output_format = fields.get("format") or output.format
    quality = fields.get("quality") or DEFAULT_QUALITY
    if output_format not in OUTPUT_FORMATS or quality not in QUALITIES:
        raise HTTPException(422, "format or quality: not one of the choices")
    reframe = fields.get("reframe") or None
    if reframe is not None and reframe not in REFRAMES:
        raise HTTPException(422, f"reframe: {reframe[:20]!r} is not one of crop, blur")
    boxes = {rendition_field(a): a for a in RENDITION_ASPECTS}
    unknown = sorted(
        name for name in fields if name.startswith(RENDITION_FIELD) and name not in boxes
    )
    if unknown:
        raise HTTPException(
            422,
            f"renditions: {unknown[0][:40]!r} is not an aspect of {', '.join(RENDITION_ASPECTS)}",
        )
    ticked = {a for name, a in boxes.items() if fields.get(name) == "on"}
    switches = {n: fields.get(f"delivery-{n}") == "on" for n in DELIVERY_SWITCHES}
    captions = [
        fmt
        for fmt in (*output.delivery.captions, *CAPTION_FILES)
        if fields.get(f"delivery-{fmt}") == "on"
    ]
    wanted: dict[str, Any] = {
        "size": fields.get("size") or None,
        "transition": fields.get("transition") or None,
        "captions": fields.get("captions") == "on",
        "renditions": [a for a in _aspects(output) if a in ticked],
        "reframe": reframe,
    }
    overrides = {
        name: value
        for name, value in wanted.items()
        if value is not None and value != getattr(output, name)
    }
    delivery = {
        name: value
        for name, value in {**switches, "captions": list(dict.fromkeys(captions))}.items()
        if value != getattr(output.delivery, name)
    }
    if delivery:
        overrides["delivery"] = delivery
    return CompileAsked(output_format, quality, overrides)
