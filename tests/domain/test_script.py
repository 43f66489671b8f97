import json
from pathlib import Path

import pytest
import yaml

from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.domain.script import ScriptError, load_script, parse_script
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
    # flux-schnell per image; sdxl 5 s on an L40S; two clips of 75 s on an A100 (80GB); the
    # 12 s soundtrack 30 s x 12/8 on an A100 (80GB).
    assert estimate["total_usd"] == pytest.approx(
        0.003 + 5 * 0.000975 + 0.003 + 75 * 0.0014 * 2 + 30 * 12 / 8 * 0.0014
    )
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
        BudgetExceeded, match=r"estimated cost \$0\.283875 exceeds its budget \$0\.05"
    ):
        check_budget(script, REGISTRY)


# -- the same refusals as the API (issue 8, item 3) -------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SAMPLE.read_text().replace("id: spring-launch", 'id: "spring-launch\\n"'), "id: Value"),
        (SAMPLE.read_text().replace("budget_usd: 1.50", "budget_usd: .inf"), "budget_usd: must"),
        (
            SAMPLE.read_text().replace("budget_usd: 1.50", "budget_usd: 1.0e+400"),
            "budget_usd: must be a finite number",
        ),
        (
            SAMPLE.read_text().replace("budget_usd: 1.50", "budget_usd: 1.0e+9"),
            "budget_usd: Input should be less than or equal to 1000000",
        ),
        (SAMPLE.read_text().replace('title: "', 'title: "\\0'), "title: contains the control"),
        (
            SAMPLE.read_text().replace('narration: "Tired', 'narration: "\\e[31mTired'),
            r"sections\.0\.narration: contains the control character U\+001B",
        ),
        ("id: x\ntitle: " + "[" * 100 + "]" * 100, "nested deeper than 64 levels"),
        ("id: x\ntitle: " + "[" * 100_000, "exceeded maximum nesting depth|nested deeper"),
        ("id: x\nsections:\n" + "- " * 100_000 + "x\n", "nested deeper than 64 levels"),
        ("x: !!binary aGVsbG8=\n", r"x: a bytes is not text"),
    ],
    ids=[
        "id-newline",
        "budget-inf",
        "budget-overflow",
        "budget-huge",
        "nul",
        "escape",
        "deep-flow",
        "deeper-flow",
        "deep-block",
        "binary",
    ],
)
def test_the_cli_refuses_what_the_api_refuses(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScriptError, match=message) as info:
        load_script(path, REGISTRY)
    assert str(info.value).startswith(f"{path}: ")


def test_yaml_aliases_cannot_expand_a_script_past_the_value_bound(tmp_path: Path) -> None:
    """A 'billion laughs' document: nine aliases of ten aliases each are 10^9 values."""
    lines = ["l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ScriptError, match="more than 100000 values"):
        load_script(_write(tmp_path, "\n".join(lines) + "\n"), REGISTRY)


def test_dates_stay_text_in_a_title(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace(
        'title: "Spring launch: the 10-minute meal planner"', "title: 2026-03-01"
    )
    assert "title: 2026-03-01" in text
    assert load_script(_write(tmp_path, text), REGISTRY).title == "2026-03-01"


def test_a_per_second_price_needs_a_number_of_seconds(tmp_path: Path) -> None:
    override = json.dumps(
        {
            "audio": {
                "by-second": {
                    "version": "acme/sound:1",
                    "task": "text-to-audio",
                    "pricing": {"usd": 0.01, "per": "second"},
                    "estimatedTime": 5,
                    "supportedParams": ["prompt", "duration"],
                }
            }
        }
    )
    registry = load_registry(PROJECT_ROOT / "config" / "models.json", override)
    for duration, words in [("ten", "must be a number of seconds"), (10**12, "not between 0")]:
        document = _sample()
        document["soundtrack"] = {"model": "by-second", "params": {"duration": duration}}
        with pytest.raises(ScriptError, match=f"soundtrack: model 'by-second'.*{words}"):
            load_script(_write(tmp_path, document), registry)


def test_renditions_and_delivery_are_read_and_refused_at_their_field() -> None:
    document = _sample()
    document["output"] = {
        "renditions": ["16:9", "9:16", "1:1"],
        "reframe": "blur",
        "delivery": {"hls": True, "captions": ["vtt", "srt"], "chapters": True, "poster": True},
    }
    document["sections"][1]["reframe"] = "crop"
    script = parse_script(document, "script.yaml", REGISTRY)
    assert script.output.renditions == ["16:9", "9:16", "1:1"]
    assert (script.output.reframe, script.sections[1].reframe) == ("blur", "crop")
    assert script.output.delivery.captions == ["vtt", "srt"]
    for output, field, words in [
        ({"renditions": ["16:9", "4:3"]}, ("output", "renditions", 1), "unknown aspect '4:3'"),
        ({"renditions": ["9:16", "9:16"]}, ("output", "renditions"), "'9:16' listed more than once"),
        ({"reframe": "stretch"}, ("output", "reframe"), "'crop' or 'blur'"),
        ({"delivery": {"captions": ["vtt", "ass"]}}, ("output", "delivery", "captions", 1), "'vtt' or 'srt'"),
        ({"delivery": {"captions": ["srt", "srt"]}}, ("output", "delivery", "captions"), "more than once"),
        ({"delivery": {"dash": True}}, ("output", "delivery", "dash"), "Extra inputs"),
    ]:  # fmt: skip
        bad = {**_sample(), "output": output}
        with pytest.raises(ScriptError) as caught:
            parse_script(bad, "script.yaml", REGISTRY)
        assert [path for path, _ in caught.value.problems] == [field]
        assert words in str(caught.value)


def test_the_players_cta_and_end_action_are_read_and_refused_at_their_field() -> None:
    document = _sample()
    document["output"] = {
        "cta": {"text": "Start your free trial", "url": "https://example.com/start", "at_s": 12.5},
        "end": {"redirect": "https://example.com/thanks"},
    }
    script = parse_script(document, "script.yaml", REGISTRY)
    assert script.output.cta is not None and script.output.cta.at_s == 12.5
    assert (
        script.output.end is not None and script.output.end.redirect == "https://example.com/thanks"
    )
    replay = parse_script({**_sample(), "output": {"end": "replay"}}, "s.yaml").output.end
    assert replay is not None and replay.replay
    for output, field, words in [
        ({"cta": {"text": "Buy", "url": "javascript:alert(1)"}}, ("output", "cta", "url"), "http or https URL"),
        ({"cta": {"text": "Buy", "url": "https://x.com", "at_s": -1}}, ("output", "cta", "at_s"), "greater than or equal to 0"),
        ({"cta": {"text": "", "url": "https://x.com"}}, ("output", "cta", "text"), "at least 1 character"),
        ({"cta": {"text": "B\nuy", "url": "https://x.com"}}, ("output", "cta", "text"), "control character"),
        ({"cta": {"url": "https://x.com"}}, ("output", "cta", "text"), "Field required"),
        ({"end": {"redirect": "ftp://x.com/file"}}, ("output", "end", "redirect"), "http or https URL"),
        ({"end": "stop"}, ("output", "end"), "'replay' or {redirect: URL}"),
    ]:  # fmt: skip
        bad = {**_sample(), "output": output}
        with pytest.raises(ScriptError) as caught:
            parse_script(bad, "script.yaml", REGISTRY)
        assert [path for path, _ in caught.value.problems] == [field], caught.value.problems
        assert words in str(caught.value)


VARIANTS = PROJECT_ROOT / "config" / "scripts" / "spring-launch-variants.yaml"


def test_hook_variants_are_sections_of_their_own_and_cuts_combine_them() -> None:
    script = load_script(VARIANTS, REGISTRY)
    hooks = script.sections[:2]
    assert [s.id for s in script.sections] == ["hook~question", "hook~promise", "offer", "close"]
    assert [(s.group, s.variant) for s in hooks] == [("hook", "question"), ("hook", "promise")]
    # The section's keyframe and clip are the variants' defaults; a variant's own replaces them.
    assert hooks[0].clip == hooks[1].clip and hooks[0].keyframe != hooks[1].keyframe
    assert [(c.key, c.sections[0]) for c in script.cuts()] == [
        ("hook=question", "hook~question"),
        ("hook=promise", "hook~promise"),
    ]
    assert script.section_path(1) == ("sections", 0, "variants", 1)
    assert script.section_path(3) == ("sections", 2)
    # The estimate (and so the budget) counts every variant.
    items = estimate_script_cost(script, REGISTRY)["items"]
    assert {i["section"] for i in items if i["stage"] == "narration"} == {
        "hook~question", "hook~promise", "offer", "close"
    }  # fmt: skip
    # Stored and read back as written: the variants folded into their section.
    written = script.model_dump(mode="json", exclude_none=True)
    assert [v["id"] for v in written["sections"][0]["variants"]] == ["question", "promise"]
    assert parse_script(written, "stored") == script
    assert load_script(SAMPLE).cuts()[0].key == "main"


def _with_hooks(*variants: dict, more: dict | None = None) -> dict:
    document = yaml.safe_load(VARIANTS.read_text())
    document["sections"][0]["variants"] = list(variants)
    if more is not None:
        document["sections"][2]["variants"] = [{"id": f"v{n}"} for n in range(more["count"])]
    return document


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        (_with_hooks({"id": "a", "narration": "x"}), "sections.0.variants", "2 to 8 variants"),
        (_with_hooks({"id": "a"}, {"id": "a"}), "sections.0.variants", "'a' appears twice"),
        (_with_hooks({"id": "a"}, {"id": "B b"}), "sections.0.variants.1.id", "lowercase"),
        (_with_hooks({"id": "a"}, {"id": "b", "variants": []}), "sections.0.variants.1", "nest"),
        (_with_hooks({"id": "a"}, {"id": "b", "still": {"duration_s": 0}}), "sections.0.variants.1.still.duration_s", "greater than 0"),
        (
            _with_hooks(*[{"id": f"h{n}"} for n in range(5)], more={"count": 4}),
            "sections.0.variants",
            "5 variants x 4 variants = 20 cuts, over the cap of 16",
        ),
    ],
)  # fmt: skip
def test_variants_are_refused_at_their_field(document: dict, field: str, message: str) -> None:
    if document["sections"][0]["variants"][0].get("narration") is None:
        for variant in document["sections"][0]["variants"]:
            variant.setdefault("narration", "Words.")
    with pytest.raises(ScriptError) as raised:
        parse_script(document, "hooks.yaml", REGISTRY)
    found = {".".join(str(p) for p in path): problem for path, problem in raised.value.problems}
    assert message in found[field], found


def test_a_variants_model_is_checked_at_the_variant() -> None:
    document = _with_hooks(
        {"id": "a", "narration": "One."},
        {"id": "b", "narration": "Two.", "voice": {"model": "kokoro-82m", "params": {"pitch": 2}}},
    )
    with pytest.raises(ScriptError) as raised:
        parse_script(document, "hooks.yaml", REGISTRY)
    assert raised.value.problems[0][0] == ("sections", 0, "variants", 1, "voice", "params", "pitch")


def test_two_sections_with_variants_make_a_cut_per_combination() -> None:
    document = yaml.safe_load(VARIANTS.read_text())
    document["sections"][2]["variants"] = [{"id": "x"}, {"id": "y"}]
    script = parse_script(document, "two.yaml", REGISTRY)
    cuts = script.cuts()
    assert [c.key for c in cuts] == [
        "hook=question,close=x", "hook=question,close=y",
        "hook=promise,close=x", "hook=promise,close=y",
    ]  # fmt: skip
    assert cuts[1].sections == ("hook~question", "offer", "close~y")
    assert cuts[1].name == "hook-question-close-y"
    assert script.section_path(4) == ("sections", 2, "variants", 1)
