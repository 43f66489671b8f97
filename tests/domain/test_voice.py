"""Voice settings of a script: the registry's text-to-speech model, checked field by field."""

from pathlib import Path

import pytest
import yaml

from vsl_pipelines.domain.registry import RegistryError, load_registry, parse_registry
from vsl_pipelines.domain.script import ScriptError, load_script, parse_script
from vsl_pipelines.generation.stages import estimate_script_cost, plan_stage
from vsl_pipelines.settings import PROJECT_ROOT

NARRATED = PROJECT_ROOT / "config" / "scripts" / "spring-launch-narrated.yaml"
REGISTRY = load_registry(PROJECT_ROOT / "config" / "models.json")


def _narrated() -> dict:
    return yaml.safe_load(NARRATED.read_text())


def test_the_registry_has_kokoro_with_its_real_inputs_and_constraints() -> None:
    spec = REGISTRY.get("kokoro-82m")
    assert (spec.kind, spec.task, spec.text_input) == ("audio", "text-to-speech", "text")
    assert spec.owner_and_name == "jaaari/kokoro-82m"
    assert spec.version_id is not None and len(spec.version_id) == 64
    assert set(spec.supported_params) == {"text", "voice", "speed"}
    assert "af_bella" in (spec.constraints["voice"].choices or [])
    assert (spec.constraints["speed"].min, spec.constraints["speed"].max) == (0.1, 5)


def test_a_text_to_speech_entry_needs_its_text_input() -> None:
    entry = {
        "version": "acme/tts",
        "task": "text-to-speech",
        "pricing": {"usd": 0.001},
        "estimatedTime": 1,
        "supportedParams": ["text"],
    }
    with pytest.raises(RegistryError, match="needs 'textInput'"):
        parse_registry([("test", {"audio": {"tts": entry}})])
    with pytest.raises(RegistryError, match="textInput 'words' is not in supportedParams"):
        parse_registry([("test", {"audio": {"tts": {**entry, "textInput": "words"}}})])


def test_the_narrated_sample_plans_one_narration_per_section() -> None:
    script = load_script(NARRATED, REGISTRY)
    jobs = plan_stage(script, REGISTRY, "narration", {})
    assert [(j.section_id, j.model_input) for j in jobs] == [
        (s.id, {"text": s.narration, "voice": v, "speed": speed})
        for s, v, speed in zip(
            script.sections,
            ["af_bella", "af_bella", "bm_george"],
            [1.0, 1.0, 1.1],
            strict=True,
        )
    ]
    items = estimate_script_cost(script, REGISTRY)["items"]
    assert [i["usd"] for i in items if i["stage"] == "narration"] == [0.00225] * 3  # 10 s on a T4


def test_without_a_voice_nothing_is_narrated() -> None:
    document = _narrated()
    del document["voice"]
    del document["sections"][2]["voice"]
    script = parse_script(document, "test", REGISTRY)
    assert plan_stage(script, REGISTRY, "narration", {}) == []


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (
            lambda d: d["voice"].update(model="no-such-voice"),
            ("voice", "model"),
            "unknown model 'no-such-voice'",
        ),
        (
            lambda d: d["voice"].update(model="musicgen"),
            ("voice", "model"),
            "a voice needs text-to-speech",
        ),
        (
            lambda d: d["voice"]["params"].update(voice="hal_9000"),
            ("voice", "params", "voice"),
            "'hal_9000' is not one of",
        ),
        (
            lambda d: d["sections"][2]["voice"]["params"].update(speed=9),
            ("sections", 2, "voice", "params", "speed"),
            "above the maximum 5",
        ),
        (
            lambda d: d["voice"]["params"].update(speed="fast"),
            ("voice", "params", "speed"),
            "must be a number",
        ),
        (
            lambda d: d["voice"]["params"].update(pitch=2),
            ("voice", "params", "pitch"),
            "does not support parameter 'pitch'",
        ),
        (
            lambda d: d["voice"]["params"].update(text="other words"),
            ("voice", "params", "text"),
            "comes from the section's narration",
        ),
    ],
)
def test_bad_voice_settings_are_refused_at_their_field(mutate, field, words) -> None:  # type: ignore[no-untyped-def]
    document = _narrated()
    mutate(document)
    with pytest.raises(ScriptError) as caught:
        parse_script(document, "narrated.yaml", REGISTRY)
    assert str(caught.value).startswith("narrated.yaml: ")
    assert words in str(caught.value)
    assert [path for path, _ in caught.value.problems] == [field]


def test_a_voice_needs_a_model(tmp_path: Path) -> None:
    document = _narrated()
    document["voice"] = {"params": {"voice": "af_bella"}}
    with pytest.raises(ScriptError, match="voice.model: Field required"):
        parse_script(document, "narrated.yaml", REGISTRY)


def test_timing_options_are_read_from_output_and_refused_at_their_field() -> None:
    script = load_script(NARRATED, REGISTRY)
    timing = script.output.timing
    assert (timing.pad_s, timing.fit, timing.max_slowdown, timing.clip_audio) == (
        0.4, "slow", 1.5, "lower",
    )  # fmt: skip
    plain = parse_script({**_narrated(), "output": {}}, "plain.yaml", REGISTRY)
    assert plain.output.timing == type(timing)(), "defaults without `timing`"
    for bad, field, words in [
        ({"pad_s": 9}, "pad_s", "less than or equal to 5"),
        ({"fit": "stretch"}, "fit", "'hold', 'slow' or 'loop'"),
        ({"max_slowdown": 0.5}, "max_slowdown", "greater than or equal to 1"),
        ({"clip_audio": "mute"}, "clip_audio", "'keep', 'lower' or 'drop'"),
        ({"pace": 1}, "pace", "Extra inputs are not permitted"),
    ]:
        document = _narrated()
        document["output"]["timing"] = bad
        with pytest.raises(ScriptError) as caught:
            parse_script(document, "narrated.yaml", REGISTRY)
        assert ("output", "timing", field) in [path for path, _ in caught.value.problems], (
            caught.value.problems
        )
        assert words in str(caught.value)
