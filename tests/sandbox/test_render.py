"""Sizes and formats the renderers choose, without a server."""

from __future__ import annotations

import pytest
from PIL import Image

from vsl_pipelines.sandbox import render


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"aspect_ratio": "1:1"}, (1024, 1024)),
        ({"aspect_ratio": "16:9"}, (1344, 768)),
        ({"aspect_ratio": "9:16", "megapixels": "0.25"}, (384, 672)),
        ({"width": 768, "height": 512}, (768, 512)),
    ],
)
def test_image_size(params: dict, size: tuple[int, int]) -> None:
    width, height = render.image_size(params)
    assert (width, height) == size
    assert width % 16 == 0 and height % 16 == 0


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({}, (1280, 720)),
        ({"aspect_ratio": "9:16", "resolution": "480p"}, (480, 854)),
        ({"aspect_ratio": "1:1", "resolution": "720p"}, (720, 720)),
        ({"width": 641, "height": 361}, (642, 362)),
    ],
)
def test_video_size(params: dict, size: tuple[int, int]) -> None:
    assert render.video_size(params) == size


@pytest.mark.parametrize(
    ("source", "strategy", "size"),
    [
        ((1344, 768), "maintain_aspect_ratio", (1024, 586)),
        ((600, 900), "maintain_aspect_ratio", (682, 1024)),
        ((600, 900), "crop_to_16_9", (1024, 576)),
        ((333, 251), "use_image_dimensions", (334, 252)),
    ],
)
def test_sized_for_video(source: tuple[int, int], strategy: str, size: tuple[int, int]) -> None:
    assert render.sized_for_video(Image.new("RGB", source), strategy).size == size


def test_colour_follows_prompt_and_seed() -> None:
    assert render.prompt_colour("a", 1) == render.prompt_colour("a", 1)
    assert (
        len(
            {
                render.prompt_colour("a", 1),
                render.prompt_colour("a", 2),
                render.prompt_colour("b", 1),
            }
        )
        == 3
    )


def test_unreadable_images_and_formats_are_render_errors(tmp_path) -> None:
    with pytest.raises(render.RenderError, match="not a readable image"):
        render.decode_image(b"not an image", "input_image")
    with pytest.raises(render.RenderError, match="output_format"):
        render.render_melody(1, 1, "flac", tmp_path / "x.flac")
