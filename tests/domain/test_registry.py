import json
from pathlib import Path

import pytest

from vsl_pipelines.domain.registry import RegistryError, load_registry
from vsl_pipelines.settings import PROJECT_ROOT

MODELS = PROJECT_ROOT / "config" / "models.json"


def test_shipped_registry_has_the_five_models_with_real_identifiers() -> None:
    registry = load_registry(MODELS)
    assert {m.id for m in registry} == {
        "flux-schnell",
        "sdxl",
        "stability-video",
        "musicgen",
        "kokoro-82m",
    }
    assert registry.get("flux-schnell").version_id is None
    assert registry.get("flux-schnell").owner_and_name == "black-forest-labs/flux-schnell"
    svd = registry.get("stability-video")
    assert svd.task == "image-to-video" and svd.image_input == "input_image"
    assert svd.version_id == "3f0457e4619daac51203dedb472816fd4af51f3149fa7a9e0b5ffcf1b8172438"
    assert registry.get("musicgen").owner_and_name == "meta/musicgen"
    kokoro = registry.get("kokoro-82m")
    assert kokoro.owner_and_name == "jaaari/kokoro-82m"
    assert kokoro.version_id == "f559560eb822dc509045f3921a1921234918b91739db4bf3daab2169b71c7a13"


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(RegistryError, match=r"unknown model 'veo-9'.*flux-schnell"):
        load_registry(MODELS).get("veo-9")


def test_unsupported_and_out_of_range_parameters_are_refused() -> None:
    flux = load_registry(MODELS).get("flux-schnell")
    with pytest.raises(RegistryError, match="does not support parameter.*'width'"):
        flux.build_input({"prompt": "x", "width": 512})
    with pytest.raises(RegistryError, match="num_outputs.*above the maximum 4"):
        flux.build_input({"prompt": "x", "num_outputs": 5})
    with pytest.raises(RegistryError, match="aspect_ratio.*not one of"):
        flux.build_input({"prompt": "x", "aspect_ratio": "7:3"})
    with pytest.raises(RegistryError, match="must be a number"):
        flux.build_input({"prompt": "x", "num_outputs": "two"})
    sdxl = load_registry(MODELS).get("sdxl")
    with pytest.raises(RegistryError, match="multiple of 8"):
        sdxl.build_input({"prompt": "x", "width": 1001})


def test_defaults_merge_under_params_and_cost_follows_pricing_unit() -> None:
    registry = load_registry(MODELS)
    flux = registry.get("flux-schnell")
    model_input = flux.build_input({"prompt": "a cat", "num_outputs": 3})
    assert model_input["aspect_ratio"] == "16:9" and model_input["num_outputs"] == 3
    assert flux.estimate_cost(model_input) == pytest.approx(0.009)
    musicgen = registry.get("musicgen")
    # Hardware-priced: its rate for the expected seconds, which grow with the duration asked.
    assert musicgen.estimate_cost(musicgen.defaults) == pytest.approx(30 * 0.0014)
    assert musicgen.estimate_cost(musicgen.build_input({"duration": 10})) == pytest.approx(
        30 * 10 / 8 * 0.0014
    )


def test_models_config_adds_and_overrides_without_code_change() -> None:
    override = json.dumps(
        {
            "video": {
                "text-clip": {
                    "version": "acme/t2v:abc123",
                    "task": "text-to-video",
                    "pricing": {"usd": 0.5},
                    "estimatedTime": 40,
                    "supportedParams": ["prompt", "duration", "seed"],
                }
            },
            "image": {"flux-schnell": {"pricing": {"usd": 0.01, "per": "output"}}},
        }
    )
    registry = load_registry(MODELS, override)
    assert registry.get("text-clip").task == "text-to-video"
    flux = registry.get("flux-schnell")
    assert flux.pricing.usd == 0.01 and flux.version == "black-forest-labs/flux-schnell"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("{not json", "MODELS_CONFIG: invalid JSON"),
        ('{"sound": {}}', "unknown kind 'sound'"),
        ('{"image": {"x": {"version": "a/b", "task": "text-to-image"}}}', r"image\.x: pricing"),
        (
            '{"image": {"x": {"version": "a/b", "task": "image-to-video", "pricing": {"usd": 1},'
            ' "estimatedTime": 1, "supportedParams": ["prompt"]}}}',
            "does not belong under 'image'",
        ),
        (
            '{"video": {"v": {"version": "a/b", "task": "image-to-video", "pricing": {"usd": 1},'
            ' "estimatedTime": 1, "supportedParams": ["prompt"]}}}',
            "needs 'imageInput'",
        ),
        ('{"image": {"flux-schnell": {"pricing": {"usd": -1}}}}', "greater than or equal to 0"),
    ],
)
def test_bad_overrides_get_clear_errors(override: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_registry(MODELS, override)


def test_missing_or_broken_registry_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "nope.json")
    broken = tmp_path / "models.json"
    broken.write_text('{"image": {')
    with pytest.raises(RegistryError, match=r"models\.json: invalid JSON at line 1"):
        load_registry(broken)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('{"image": {"flux-schnell": {"pricing": {"usd": NaN}}}}', "pricing.usd: Input should be"),
        ('{"image": {"flux-schnell": {"estimatedTime": Infinity}}}', "estimatedTime: Input should"),
        (
            '{"image": {"flux-schnell": {"constraints": {"num_outputs": {"max": Infinity}}}}}',
            "num_outputs.max: Input should be a finite number",
        ),
    ],
    ids=["nan-price", "infinite-time", "infinite-bound"],
)
def test_registry_numbers_are_finite(override: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_registry(MODELS, override)


def test_non_finite_or_non_numeric_inputs_are_registry_errors() -> None:
    registry = load_registry(MODELS)
    sdxl = registry.get("sdxl")
    with pytest.raises(RegistryError, match="'guidance_scale' must be a finite number"):
        sdxl.build_input({"guidance_scale": float("nan")})
    musicgen = registry.get("musicgen")
    per_second = musicgen.model_copy(update={"constraints": {}})
    for duration, words in [("ten", "a number of seconds"), (float("inf"), "not between 0")]:
        with pytest.raises(RegistryError, match=words):
            per_second.estimate_cost({"duration": duration})


def test_the_original_models_json_example_loads_as_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The original README's example: a number as `pricing` (per output) and no `task` (taken
    from the media type, with a warning naming the model)."""
    original = {
        "image": {
            "your-model": {
                "version": "owner/model:version",
                "pricing": 0.01,
                "estimatedTime": 10,
                "supportedParams": ["prompt", "width", "height"],
                "defaults": {"width": 1024, "height": 1024},
            }
        },
        "video": {
            "animate": {
                "version": "owner/animate",
                "pricing": 0.05,
                "estimatedTime": 60,
                "supportedParams": ["input_image", "seed"],
            }
        },
    }
    with caplog.at_level("WARNING", logger="vsl_pipelines.domain.registry"):
        registry = load_registry(MODELS, json.dumps(original))
    model = registry.get("your-model")
    assert (model.task, model.pricing.basis, model.pricing.usd) == ("text-to-image", "output", 0.01)
    assert model.estimate_cost(model.build_input({"prompt": "x"})) == 0.01
    animate = registry.get("animate")
    assert (animate.task, animate.image_input) == ("image-to-video", "input_image")
    warnings = [r.getMessage() for r in caplog.records]
    assert "model your-model has no task: taken as text-to-image from its media type" in warnings
    assert any("model animate has no task" in w for w in warnings)
