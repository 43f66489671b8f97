"""The script page's "Compile again" form: every choice starts from the script's own output
options (format, size, transition, captions) and the last compilation's quality, so a
recompile changes only what the person changes; its post becomes a compile request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from vsl_pipelines.domain.script import Output
from vsl_pipelines.web.studio.forms import OUTPUT_FORMATS, SIZES, TRANSITIONS

QUALITIES = ("draft", "standard", "high")
DEFAULT_QUALITY = "standard"  # the automatic compile's


@dataclass(frozen=True)
class RecompileForm:
    """The form's initial state and its choices. `size` and `transition` are `""` where the
    script sets none (the clips' own size, a cut): a blank choice is offered only then, since
    a compile request can change the script's options but not unset them."""

    format: str
    quality: str
    size: str
    transition: str
    captions: bool
    sizes: tuple[str, ...]
    transitions: tuple[str, ...]
    qualities: tuple[str, ...] = QUALITIES

    def fields(self) -> dict[str, str]:
        """What the form posts when nothing is changed (a box unticked is not posted)."""
        fields = {
            "format": self.format,
            "quality": self.quality,
            "size": self.size,
            "transition": self.transition,
        }
        return {**fields, "captions": "on"} if self.captions else fields


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
    )


@dataclass(frozen=True)
class CompileAsked:
    """A compile request as the form asks for it: the options that differ from the
    script's own (those it keeps need no override)."""

    output_format: str
    quality: str
    overrides: dict[str, Any]


def compile_asked(fields: dict[str, str], output: Output) -> CompileAsked:
    """The request a posted form makes (422 for a format or quality not offered); an option
    left as the script has it is no override, an unticked Captions box turns captions off."""
    output_format = fields.get("format") or output.format
    quality = fields.get("quality") or DEFAULT_QUALITY
    if output_format not in OUTPUT_FORMATS or quality not in QUALITIES:
        raise HTTPException(422, "format or quality: not one of the choices")
    wanted: dict[str, Any] = {
        "size": fields.get("size") or None,
        "transition": fields.get("transition") or None,
        "captions": fields.get("captions") == "on",
    }
    overrides = {
        name: value
        for name, value in wanted.items()
        if value is not None and value != getattr(output, name)
    }
    return CompileAsked(output_format, quality, overrides)
