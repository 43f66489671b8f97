"""Seeds of takes: a seed pinned in the document (exports and duplicates write the seeds that
were sent) makes the first take again; a retake gets the reviewer's variation, else its own
seed, never the pinned one (it would make the same picture)."""

from __future__ import annotations

from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.stages import SectionState, plan_stage, take_seed


def _pinned(script: Script, seed: int) -> Script:
    hook = script.sections[0]
    assert hook.keyframe is not None
    keyframe = hook.keyframe.model_copy(update={"params": {**hook.keyframe.params, "seed": seed}})
    sections = [hook.model_copy(update={"keyframe": keyframe}), *script.sections[1:]]
    return script.model_copy(update={"sections": sections})


def _hook_seed(script: Script, registry: Registry, state: SectionState) -> int:
    [job] = [
        j
        for j in plan_stage(script, registry, "keyframe", {"hook": state})
        if j.section_id == "hook"
    ]
    return int(job.model_input["seed"])


def test_the_pinned_seed_makes_the_first_take_and_a_retake_varies(
    sample_script: Script, registry: Registry
) -> None:
    pinned = _pinned(sample_script, 4242)
    assert _hook_seed(pinned, registry, SectionState(take=1)) == 4242
    retake = _hook_seed(pinned, registry, SectionState(take=2))
    assert retake == take_seed(pinned.id, "hook", "keyframe", 2) != 4242
    chosen = SectionState(take=3, overrides={"seed": 7})
    assert _hook_seed(pinned, registry, chosen) == 7  # the reviewer's variation
