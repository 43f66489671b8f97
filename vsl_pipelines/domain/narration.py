"""A section's narration as its voice speaks it: the reviewer's corrections over the script.

A narration rejection may carry corrected words (`text`) and voice parameters (`params`, e.g.
`speed`, `voice`); they are kept with the section (`sections.narration_overrides`) and shape
its next narration take. One place says what is spoken, for generation, compile and pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import (
    MAX_NARRATION_CHARS,
    FieldPath,
    Section,
    Voice,
    check_voice,
    text_problem,
)


def spoken_words(section: Section, overrides: Mapping[str, Any] | None) -> str:
    """The words spoken for `section` under the narration `overrides`: the corrected text if
    any, else the section's narration."""
    text = (overrides or {}).get("text")
    return text if isinstance(text, str) and text else section.narration


class NarrationState(Protocol):
    """Where a section's narration stands (a `sections` row is one)."""

    @property
    def narration_overrides(self) -> Mapping[str, Any]: ...


def spoken_text(section_row: NarrationState, script_section: Section) -> str:
    """The words a section's voice speaks for its current narration take: the reviewer's
    corrected text, else the script's narration."""
    return spoken_words(script_section, section_row.narration_overrides)


def narration_voice(voice: Voice, overrides: Mapping[str, Any] | None) -> Voice:
    """`voice` with the reviewer's parameter overrides merged over its own."""
    params = (overrides or {}).get("params") or {}
    return voice if not params else Voice(model=voice.model, params={**voice.params, **params})


def merged_overrides(
    previous: Mapping[str, Any] | None, params: Mapping[str, Any] | None, text: str | None
) -> dict[str, Any]:
    """The next take's overrides: the previous take's, with this rejection's corrections over
    them (a correction holds for later takes until corrected again)."""
    merged: dict[str, Any] = dict(previous or {})
    if params:
        merged["params"] = {**(merged.get("params") or {}), **params}
    if text is not None:
        merged["text"] = text
    return merged


def check_overrides(
    registry: Registry,
    voice: Voice,
    section: Section,
    overrides: Mapping[str, Any],
) -> list[tuple[FieldPath, str]]:
    """What is wrong with the narration `overrides` for `voice` speaking `section`, each
    problem at its field (`("text",)`, `("params", "speed")`); empty when they fit."""
    problems: list[tuple[FieldPath, str]] = []
    text = overrides.get("text")
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            problems.append((("text",), "the corrected narration must be non-empty text"))
        elif len(text) > MAX_NARRATION_CHARS:
            problems.append((("text",), f"at most {MAX_NARRATION_CHARS} characters"))
        elif (problem := text_problem(text)) is not None:
            problems.append((("text",), problem))
    params = overrides.get("params")
    if params is not None and not isinstance(params, Mapping):
        problems.append((("params",), "voice parameters must be an object (name: value)"))
    if problems:
        return problems
    spoken = spoken_words(section, overrides)
    for path, message in check_voice(registry, narration_voice(voice, overrides), spoken):
        if path and path[0] == "params" and len(path) > 1 and path[1] not in (params or {}):
            path = ("voice", *path)  # the script's own voice, not the override
        problems.append((path, message))
    return problems
