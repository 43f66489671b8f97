"""The original's width/height read as a model's nearest aspect ratio, said in warnings."""

from __future__ import annotations

import pytest

from vsl_pipelines.domain.original_params import translate
from vsl_pipelines.domain.registry import Registry


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (1024, 1024, "1:1"),
        (1920, 1080, "16:9"),
        (1080, 1920, "9:16"),
        (1000, 750, "4:3"),
        (2520, 1080, "21:9"),
        (800, 1000, "4:5"),
    ],
)
def test_a_size_becomes_the_nearest_ratio(
    registry: Registry, width: int, height: int, ratio: str
) -> None:
    flux = registry.get("flux-schnell")
    done = translate(flux, {"prompt": "x", "width": width, "height": height})
    assert done.parameters == {"prompt": "x", "aspect_ratio": ratio}
    assert done.warnings == [
        f"parameters.width/height: model 'flux-schnell' takes aspect_ratio, not a size;"
        f" {width}x{height} was sent as aspect_ratio '{ratio}'"
    ]
    flux.build_input(done.parameters)  # what it became is valid for the model


def test_nothing_changes_for_a_model_taking_sizes_or_a_request_naming_a_ratio(
    registry: Registry,
) -> None:
    sdxl = registry.get("sdxl")
    sized = {"prompt": "x", "width": 1024, "height": 576}
    assert translate(sdxl, sized).parameters == sized and not translate(sdxl, sized).warnings
    flux = registry.get("flux-schnell")
    both = {"prompt": "x", "aspect_ratio": "1:1", "width": 1024, "height": 576}
    assert translate(flux, both).parameters == both  # the model then refuses width: its error


@pytest.mark.parametrize(
    "size", [{"width": 1024}, {"width": 0, "height": 5}, {"width": "big", "height": 1}]
)
def test_an_incomplete_size_falls_back_to_the_default_ratio_with_a_warning(
    registry: Registry, size: dict
) -> None:
    done = translate(registry.get("flux-schnell"), {"prompt": "x", **size})
    assert done.parameters == {"prompt": "x"}
    assert "both positive numbers are needed" in done.warnings[0]
