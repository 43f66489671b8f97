from pathlib import Path

import pytest
import yaml

from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.domain.script import ScriptError, load_script
from vsl_pipelines.generation.stages import BudgetExceeded, check_budget, estimate_script_cost
from vsl_pipelines.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml"
REGISTRY = load_registry(PROJECT_ROOT / "config" / "models.json")


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return path


def _sample() -> dict:
    return yaml.safe_load(SAMPLE.read_text())


def test_sample_script_is_valid_and_within_budget() -> None:
    script = load_script(SAMPLE, REGISTRY)
    assert [s.id for s in script.sections] == ["hook", "offer", "close"]
    estimate = estimate_script_cost(script, REGISTRY)
    assert estimate["total_usd"] == pytest.approx(0.003 + 0.0048 + 0.003 + 0.12 * 2 + 0.0023 * 12)
    assert check_budget(script, REGISTRY) == estimate["total_usd"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("title"), "title: Field required"),
        (lambda d: d.update(id="Spring Launch"), "id: Value error, must be lowercase"),
        (lambda d: d.update(sections=[]), "sections: List should have at least 1 item"),
        (lambda d: d["sections"][1].update(id="hook"), "section id 'hook' appears twice"),
        (lambda d: d["sections"][0].pop("narration"), r"sections\.0\.narration: Field required"),
        (
            lambda d: d["sections"][0].update(still={"duration_s": 2}),
            "exactly one of 'clip' or 'still'",
        ),
        (lambda d: d["sections"][1].pop("keyframe"), "needs a 'keyframe'"),
        (lambda d: d["sections"][0].update(colour="red"), r"sections\.0\.colour: Extra inputs"),
        (
            lambda d: d["sections"][0]["keyframe"].update(model="midjourney"),
            r"sections\[0\] \(hook\)\.keyframe: unknown model 'midjourney'",
        ),
        (
            lambda d: d["sections"][0]["clip"].update(model="sdxl"),
            r"sections\[0\] \(hook\)\.clip: model 'sdxl' is text-to-image",
        ),
        (
            lambda d: d["sections"][0]["keyframe"]["params"].update(num_outputs=9),
            "'num_outputs'=9 is above the maximum 4",
        ),
        (lambda d: d["soundtrack"]["params"].update(duration=0), "soundtrack: .*below the minimum"),
        (
            lambda d: d.update(budget_usd=-1),
            "budget_usd: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_scripts_name_file_and_field(tmp_path: Path, mutate, message: str) -> None:
    document = _sample()
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(ScriptError, match=message) as info:
        load_script(path, REGISTRY)
    assert str(path) in str(info.value)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="file not found"):
        load_script(tmp_path / "missing.yaml")
    with pytest.raises(ScriptError, match="invalid YAML at line 2"):
        load_script(_write(tmp_path, "id: a\n  title: [unclosed\n"))
    with pytest.raises(ScriptError, match="must be a YAML mapping"):
        load_script(_write(tmp_path, "- just\n- a list\n"))


def test_budget_below_estimate_is_refused(tmp_path: Path) -> None:
    document = _sample()
    document["budget_usd"] = 0.05
    script = load_script(_write(tmp_path, document), REGISTRY)
    with pytest.raises(
        BudgetExceeded, match=r"estimated cost \$0\.2784 exceeds its budget \$0\.05"
    ):
        check_budget(script, REGISTRY)
