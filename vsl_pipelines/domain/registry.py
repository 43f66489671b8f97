"""The model registry: `config/models.json` plus `MODELS_CONFIG` overrides, validated once.

Request assets ask it to validate inputs and estimate cost before any Replicate call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vsl_pipelines.domain.billing import Pricing
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)

Kind = Literal["image", "video", "audio"]
Task = Literal[
    "text-to-image", "image-to-video", "text-to-video", "text-to-audio", "text-to-speech"
]
TASKS_BY_KIND: dict[str, set[str]] = {
    "image": {"text-to-image"},
    "video": {"image-to-video", "text-to-video"},
    "audio": {"text-to-audio", "text-to-speech"},
}


class RegistryError(ValueError):
    """The registry file or an override is invalid, or a lookup/input does not fit it."""


MAX_BILLED_SECONDS = 86_400  # what a per-second price may be charged for in one prediction


class Constraint(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    multiple_of: int | None = None

    def check(self, name: str, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise RegistryError(f"parameter {name!r}={value!r} is not one of {self.choices}")
        if self.min is not None or self.max is not None or self.multiple_of is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RegistryError(f"parameter {name!r} must be a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise RegistryError(f"parameter {name!r} must be a finite number, got {value!r}")
            if self.min is not None and value < self.min:
                raise RegistryError(f"parameter {name!r}={value} is below the minimum {self.min:g}")
            if self.max is not None and value > self.max:
                raise RegistryError(f"parameter {name!r}={value} is above the maximum {self.max:g}")
            if self.multiple_of and value % self.multiple_of:
                raise RegistryError(
                    f"parameter {name!r}={value} is not a multiple of {self.multiple_of}"
                )


class ModelSpec(BaseModel):
    """One registry entry, in the format users of the original system already have."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    id: str = ""
    kind: Kind = "image"
    version: str = Field(min_length=3)
    task: Task
    pricing: Pricing
    estimated_time: float = Field(alias="estimatedTime", ge=0)
    supported_params: list[str] = Field(alias="supportedParams", min_length=1)
    defaults: dict[str, Any] = Field(default_factory=dict)
    constraints: dict[str, Constraint] = Field(default_factory=dict)
    image_input: str | None = Field(default=None, alias="imageInput")
    # A text-to-speech model's input for the words to speak (a section's narration).
    text_input: str | None = Field(default=None, alias="textInput")
    description: str | None = None
    # What the studio's editor says of a parameter, all optional and never sent to the model:
    # its plain name (`labels`), a sentence of help (`help`), plain names of its choices
    # (`choiceLabels`: parameter -> value as text -> name), whether it is folded away as
    # advanced (`advanced`), and on/off parameters the registry leaves to the model, with the
    # model's own default (`switches`), so the editor can show them as checkboxes.
    labels: dict[str, str] = Field(default_factory=dict)
    help: dict[str, str] = Field(default_factory=dict)
    choice_labels: dict[str, dict[str, str]] = Field(default_factory=dict, alias="choiceLabels")
    advanced: list[str] = Field(default_factory=list)
    switches: dict[str, bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.task not in TASKS_BY_KIND[self.kind]:
            raise ValueError(f"task {self.task!r} does not belong under {self.kind!r}")
        unknown = (set(self.defaults) | set(self.constraints)) - set(self.supported_params)
        if unknown:
            raise ValueError(f"defaults/constraints name unsupported params {sorted(unknown)}")
        described = {
            *self.labels,
            *self.help,
            *self.choice_labels,
            *self.advanced,
            *self.switches,
        } - set(self.supported_params)
        if described:
            raise ValueError(
                f"labels/help/choiceLabels/advanced/switches name unsupported params"
                f" {sorted(described)}"
            )
        if self.task == "image-to-video":
            if not self.image_input:
                raise ValueError("an image-to-video model needs 'imageInput' (its image input)")
            if self.image_input not in self.supported_params:
                raise ValueError(f"imageInput {self.image_input!r} is not in supportedParams")
        if self.task == "text-to-speech":
            if not self.text_input:
                raise ValueError("a text-to-speech model needs 'textInput' (its text input)")
            if self.text_input not in self.supported_params:
                raise ValueError(f"textInput {self.text_input!r} is not in supportedParams")
        return self

    @property
    def owner_and_name(self) -> str:
        return self.version.split(":", 1)[0]

    @property
    def version_id(self) -> str | None:
        """The version hash, or None for an official model called by name."""
        _, _, version = self.version.partition(":")
        return version or None

    def build_input(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with `params`, checked against supportedParams and constraints."""
        unknown = sorted(set(params) - set(self.supported_params))
        if unknown:
            raise RegistryError(
                f"model {self.id!r} does not support parameter(s) {unknown}; "
                f"supported: {self.supported_params}"
            )
        merged = {**self.defaults, **{k: v for k, v in params.items() if v is not None}}
        for name, value in merged.items():
            constraint = self.constraints.get(name)
            if constraint is not None:
                try:
                    constraint.check(name, value)
                except RegistryError as exc:
                    raise RegistryError(f"model {self.id!r}: {exc}") from None
        return merged

    def outputs_per_run(self, model_input: Mapping[str, Any]) -> int:
        count = model_input.get("num_outputs", 1)
        return count if isinstance(count, int) and count > 0 else 1

    def estimate_cost(self, model_input: Mapping[str, Any]) -> float:
        """Estimated USD for one prediction with this input: per output, per second of the
        requested `duration`, per run, or the hardware's rate for the expected seconds."""
        basis = self.pricing.basis
        if basis == "output":
            return round(float(self.pricing.unit_usd) * self.outputs_per_run(model_input), 6)
        if basis == "output_second":
            return round(float(self.pricing.unit_usd) * self._requested_seconds(model_input), 6)
        if basis == "hardware":
            return round(
                float(self.pricing.rate_per_second) * self.expected_seconds(model_input), 6
            )
        return float(self.pricing.unit_usd)

    def _requested_seconds(self, model_input: Mapping[str, Any]) -> float:
        seconds = model_input.get("duration") or self.estimated_time or 1
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise RegistryError(
                f"model {self.id!r}: parameter 'duration' must be a number of seconds, "
                f"got {seconds!r}"
            )
        if not 0 < seconds <= MAX_BILLED_SECONDS:  # NaN fails both comparisons
            raise RegistryError(
                f"model {self.id!r}: parameter 'duration'={seconds!r} is not between 0 and "
                f"{MAX_BILLED_SECONDS} seconds"
            )
        return float(seconds)

    def expected_seconds(self, model_input: Mapping[str, Any]) -> float:
        """Seconds of processing expected: `estimatedTime` (for the defaults), in proportion
        to the requested `duration` for a model whose output length is an input."""
        default = self.defaults.get("duration")
        if "duration" in model_input and isinstance(default, int | float) and default > 0:
            return self.estimated_time * self._requested_seconds(model_input) / float(default)
        return float(self.estimated_time)


class Registry(BaseModel):
    models: dict[str, ModelSpec]

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise RegistryError(f"unknown model {model_id!r}; known models: {known}") from None

    def by_version(self, version: str) -> ModelSpec | None:
        """The entry for a Replicate `owner/name[:version]` or bare version id, if any."""
        for spec in self.models.values():
            if version in (spec.version, spec.owner_and_name, spec.version_id):
                return spec
        return None

    def __iter__(self) -> Iterator[ModelSpec]:  # type: ignore[override]
        return iter(self.models.values())


def _merge(base: dict[str, Any], override: Mapping[str, Any], source: str) -> None:
    for kind, entries in override.items():
        if kind not in TASKS_BY_KIND:
            raise RegistryError(f"{source}: unknown kind {kind!r}; expected image, video or audio")
        if not isinstance(entries, dict):
            raise RegistryError(f"{source}: {kind!r} must map model ids to entries")
        target = base.setdefault(kind, {})
        for model_id, entry in entries.items():
            if not isinstance(entry, dict):
                raise RegistryError(f"{source}: {kind}.{model_id} must be an object")
            # An override replaces named fields of an existing entry and keeps the rest.
            target[model_id] = {**target.get(model_id, {}), **entry}


_IMAGE_INPUTS = ("input_image", "image", "first_frame_image", "start_image")


def _with_task(kind: str, model_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The original format has no `task`: infer it from the media type (and, for a video
    model, whether it takes an image), saying so with a warning naming the model."""
    if "task" in entry:
        return entry
    params = entry.get("supportedParams") or []
    image = next((p for p in _IMAGE_INPUTS if p in params), None)
    if kind == "video" and image is not None:
        task, extra = "image-to-video", {"imageInput": entry.get("imageInput", image)}
    elif kind == "audio" and "text" in params and "prompt" not in params:
        task, extra = "text-to-speech", {"textInput": entry.get("textInput", "text")}
    else:
        task, extra = (
            {"image": "text-to-image", "video": "text-to-video"}.get(kind, "text-to-audio"),
            {},
        )
    log.warning(
        "model %s has no task: taken as %s from its media type",
        model_id,
        task,
        extra={"model_id": model_id},
    )
    return {**entry, "task": task, **extra}


def parse_registry(documents: list[tuple[str, Mapping[str, Any]]]) -> Registry:
    """Merge registry documents in order (later wins) and validate every entry."""
    raw: dict[str, Any] = {}
    for source, document in documents:
        if not isinstance(document, Mapping):
            raise RegistryError(f"{source}: the registry must be a JSON object")
        _merge(raw, document, source)
    models: dict[str, ModelSpec] = {}
    for kind, entries in raw.items():
        for model_id, entry in entries.items():
            try:
                entry = _with_task(kind, model_id, entry)
                models[model_id] = ModelSpec.model_validate({**entry, "id": model_id, "kind": kind})
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
                    for err in exc.errors()
                )
                sources = ", ".join(s for s, _ in documents)
                raise RegistryError(f"{sources}: model {kind}.{model_id}: {problems}") from None
    return Registry(models=models)


def load_registry(path: Path, override_json: str | None = None) -> Registry:
    """Read the registry file and apply the `MODELS_CONFIG` JSON string on top."""
    try:
        documents: list[tuple[str, Mapping[str, Any]]] = [(str(path), json.loads(path.read_text()))]
    except FileNotFoundError:
        raise RegistryError(f"{path}: model registry file not found") from None
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if override_json and override_json.strip():
        try:
            documents.append(("MODELS_CONFIG", json.loads(override_json)))
        except json.JSONDecodeError as exc:
            raise RegistryError(f"MODELS_CONFIG: invalid JSON: {exc.msg}") from None
    return parse_registry(documents)


def default_registry() -> Registry:
    from vsl_pipelines.settings import get_settings

    settings = get_settings()
    return load_registry(settings.models_file, settings.models_config)
