"""The script format: a video sales letter in sections, read from YAML and validated.

`vsl scripts add FILE` parses a file with `load_script`; errors name the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vsl_pipelines.domain.registry import Registry, RegistryError
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import TransitionSpec
from vsl_pipelines.media.profile import parse_fps, parse_size

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ScriptError(ValueError):
    """A script file that cannot be used; the message names the file and the field."""


class Generation(BaseModel):
    """One call to a registry model: which model, its prompt and extra parameters."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Still(BaseModel):
    """The section's keyframe held on screen (made locally, no paid call)."""

    model_config = ConfigDict(extra="forbid")

    duration_s: float = Field(gt=0, le=120)
    zoom: bool = False


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    narration: str = Field(min_length=1)
    keyframe: Generation | None = None
    clip: Generation | None = None
    still: Still | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be lowercase letters, digits and dashes (at most 63)")
        return value

    @model_validator(mode="after")
    def _one_visual(self) -> Section:
        if (self.clip is None) == (self.still is None):
            raise ValueError("a section needs exactly one of 'clip' or 'still'")
        if self.still is not None and self.keyframe is None:
            raise ValueError("a 'still' section needs a 'keyframe' to hold on screen")
        return self


class Soundtrack(Generation):
    pass


class Output(BaseModel):
    """How the final video is compiled: size, rate, transitions, captions, container."""

    model_config = ConfigDict(extra="forbid")

    size: str | None = None
    fps: str | None = None
    transition: str | None = None
    captions: bool = False
    format: Literal["mp4", "webm"] = "mp4"
    poster: bool = True

    @field_validator("fps", mode="before")
    @classmethod
    def _fps_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @model_validator(mode="after")
    def _media_values(self) -> Output:
        try:
            if self.size is not None:
                parse_size(self.size)
            if self.fps is not None:
                parse_fps(self.fps)
        except MediaError as exc:
            raise ValueError(str(exc)) from None
        if self.transition is not None:
            TransitionSpec.parse(self.transition)
        return self

    def transition_spec(self) -> TransitionSpec | None:
        return TransitionSpec.parse(self.transition) if self.transition else None


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=1)
    budget_usd: float | None = Field(default=None, ge=0)
    soundtrack: Soundtrack | None = None
    output: Output = Field(default_factory=Output)
    sections: list[Section] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be lowercase letters, digits and dashes (at most 63)")
        return value

    @model_validator(mode="after")
    def _unique_sections(self) -> Script:
        seen: set[str] = set()
        for section in self.sections:
            if section.id in seen:
                raise ValueError(f"section id {section.id!r} appears twice")
            seen.add(section.id)
        return self

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)


def check_against_registry(script: Script, registry: Registry) -> None:
    """Every model is known, fits its slot, and every parameter is supported and in range."""

    def check(where: str, generation: Generation, tasks: set[str]) -> None:
        try:
            spec = registry.get(generation.model)
            if spec.task not in tasks:
                raise RegistryError(
                    f"model {spec.id!r} is {spec.task}; this slot needs {' or '.join(sorted(tasks))}"
                )
            params = dict(generation.params)
            if generation.prompt is not None:
                if "prompt" not in spec.supported_params:
                    raise RegistryError(f"model {spec.id!r} takes no prompt")
                params["prompt"] = generation.prompt
            spec.build_input(params)
        except RegistryError as exc:
            raise ScriptError(f"{where}: {exc}") from None

    for index, section in enumerate(script.sections):
        where = f"sections[{index}] ({section.id})"
        if section.keyframe:
            check(f"{where}.keyframe", section.keyframe, {"text-to-image"})
        if section.clip:
            needs = {"image-to-video"} if section.keyframe else {"text-to-video"}
            check(f"{where}.clip", section.clip, needs)
    if script.soundtrack:
        check("soundtrack", script.soundtrack, {"text-to-audio"})


def parse_script(document: Any, source: str, registry: Registry | None = None) -> Script:
    if not isinstance(document, dict):
        raise ScriptError(f"{source}: a script must be a YAML mapping with id, title and sections")
    try:
        script = Script.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'script'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScriptError(f"{source}: {problems}") from None
    if registry is not None:
        try:
            check_against_registry(script, registry)
        except ScriptError as exc:
            raise ScriptError(f"{source}: {exc}") from None
    return script


def read_script_document(path: Path) -> Any:
    """The YAML document in one script file (ScriptError naming the file and line)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScriptError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ScriptError(f"{path}: is a folder, not a script file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ScriptError(f"{path}: invalid YAML{where}") from None


def load_script(path: Path, registry: Registry | None = None) -> Script:
    """Read and validate one script file."""
    return parse_script(read_script_document(path), str(path), registry)
