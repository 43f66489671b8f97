"""The original system's parameter names, read as the registry's models take them.

Its clients send `width`/`height` to every image model (its README's flux-schnell example
does); a model that takes `aspect_ratio` instead gets the nearest of its ratios, and the answer
says so in `warnings`. Nothing is translated for a model that supports the names as sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vsl_pipelines.domain.registry import ModelSpec


@dataclass(frozen=True)
class Translated:
    parameters: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _ratio(choice: str) -> float | None:
    wide, _, high = choice.partition(":")
    try:
        ratio = float(wide) / float(high)
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def _size(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 and math.isfinite(value) else None


def translate(spec: ModelSpec, parameters: Mapping[str, Any]) -> Translated:
    """`parameters` with the original's `width`/`height` mapped to the model's nearest
    `aspect_ratio` where the model takes a ratio and not a size."""
    takes_size = "width" in spec.supported_params or "height" in spec.supported_params
    ratios = spec.constraints.get("aspect_ratio")
    if takes_size or ratios is None or not ratios.choices or "aspect_ratio" in parameters:
        return Translated(dict(parameters))
    if "width" not in parameters and "height" not in parameters:
        return Translated(dict(parameters))
    width, height = _size(parameters.get("width")), _size(parameters.get("height"))
    rest = {k: v for k, v in parameters.items() if k not in ("width", "height")}
    if width is None or height is None:
        return Translated(
            rest,
            [
                f"parameters.width/height: model {spec.id!r} takes aspect_ratio, not a size;"
                " both positive numbers are needed to choose one, so its default is used"
            ],
        )
    wanted = math.log(width / height)
    choices = [(c, r) for c in ratios.choices if isinstance(c, str) and (r := _ratio(c))]
    nearest = min(choices, key=lambda pair: abs(math.log(pair[1]) - wanted))[0]
    return Translated(
        {**rest, "aspect_ratio": nearest},
        [
            f"parameters.width/height: model {spec.id!r} takes aspect_ratio, not a size;"
            f" {width:g}x{height:g} was sent as aspect_ratio {nearest!r}"
        ],
    )
