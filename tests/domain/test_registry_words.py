"""The registry's optional words for the studio's editor (labels, help, choiceLabels, advanced,
switches): every parameter of the shipped models described, the original format still read,
and words about a parameter a model does not have refused by name."""

from __future__ import annotations

import json

import pytest

from vsl_pipelines.domain.registry import RegistryError, load_registry
from vsl_pipelines.settings import PROJECT_ROOT

MODELS = PROJECT_ROOT / "config" / "models.json"
PLAIN = {
    "version": "acme/plain:abc123",
    "task": "text-to-image",
    "pricing": {"usd": 0.01},
    "estimatedTime": 3,
    "supportedParams": ["prompt", "steps", "fast"],
    "defaults": {"steps": 4},
}


def test_every_shipped_parameter_has_a_label_and_help() -> None:
    registry = load_registry(MODELS)
    assert len(list(registry)) == 5
    for spec in registry:
        for name in spec.supported_params:
            assert spec.labels.get(name), f"{spec.id}.{name} has no label"
            assert spec.help.get(name), f"{spec.id}.{name} has no help"
        for name, names in spec.choice_labels.items():
            choices = {str(c) for c in spec.constraints[name].choices or []}
            assert set(names) == choices, f"{spec.id}.{name}: every choice named, no other"
    flux = registry.get("flux-schnell")
    assert flux.switches == {"go_fast": True, "disable_safety_checker": False}
    assert "go_fast" in flux.advanced and "aspect_ratio" not in flux.advanced
    assert registry.get("kokoro-82m").choice_labels["voice"]["af_bella"] == "Bella (US, female)"


def test_an_entry_in_the_original_format_is_read_without_words() -> None:
    registry = load_registry(MODELS, json.dumps({"image": {"plain": PLAIN}}))
    plain = registry.get("plain")
    assert plain.labels == {} and plain.help == {} and plain.advanced == []
    assert plain.choice_labels == {} and plain.switches == {}


def test_words_are_added_by_an_override() -> None:
    words = {"labels": {"steps": "Refinement"}, "switches": {"fast": True}, "advanced": ["fast"]}
    registry = load_registry(MODELS, json.dumps({"image": {"plain": {**PLAIN, **words}}}))
    assert registry.get("plain").labels == {"steps": "Refinement"}
    assert registry.get("plain").switches == {"fast": True}


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ({"labels": {"colour": "Colour"}}, r"name unsupported params \['colour'\]"),
        ({"help": {"size": "How big"}}, r"\['size'\]"),
        ({"advanced": ["nope"]}, r"\['nope'\]"),
        ({"choiceLabels": {"style": {"a": "A"}}}, r"\['style'\]"),
        ({"switches": {"fast": "maybe"}}, r"plain: switches\.fast"),
        ({"help": ["steps"]}, r"plain: help"),
    ],
)
def test_words_about_what_a_model_lacks_are_refused(words: dict, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_registry(MODELS, json.dumps({"image": {"plain": {**PLAIN, **words}}}))
