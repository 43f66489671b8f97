"""What each stage of a script should generate for the sections' current takes, and its cost."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.narration import narration_voice, spoken_words
from vsl_pipelines.domain.registry import ModelSpec, Registry
from vsl_pipelines.domain.script import Generation, Script, speech_input
from vsl_pipelines.domain.stages import Stage

STAGES = tuple(stage.value for stage in Stage)  # plain strings: what the database keeps


class BudgetExceeded(ValueError):
    pass


@dataclass(frozen=True)
class PlannedJob:
    section_id: str
    stage: str
    take: int
    spec: ModelSpec
    model_input: dict[str, Any]
    estimated_cost_usd: float


@dataclass
class SectionState:
    """A section's current take and the reviewer's overrides for it (prompt, seed); its
    current narration take and the narration's overrides (corrected text, voice params)."""

    take: int = 1
    overrides: dict[str, Any] = field(default_factory=dict)
    narration_take: int = 1
    narration_overrides: dict[str, Any] = field(default_factory=dict)


def take_seed(script_id: str, section_id: str, stage: str, take: int) -> int:
    """A stable seed per take: reruns reproduce it, a new take gets a new one."""
    digest = hashlib.sha256(f"{script_id}:{section_id}:{stage}:{take}".encode()).hexdigest()
    return int(digest[:8], 16) % 2**31


def build_input(
    spec: ModelSpec,
    generation: Generation,
    *,
    seed: int,
    prompt: str | None = None,
    image_url: str | None = None,
    retake: bool = False,
) -> dict[str, Any]:
    """The model input of one take. A seed pinned in the document (`params.seed`, as exports
    and duplicates write it) makes the first take; a retake gets `seed` (the reviewer's
    variation, else its own), or it would make the same picture again."""
    params = dict(generation.params)
    text = prompt if prompt is not None else generation.prompt
    if text is not None:
        params["prompt"] = text
    if "seed" in spec.supported_params and (retake or "seed" not in params):
        params["seed"] = seed
    if spec.task == "image-to-video":
        assert spec.image_input is not None
        params[spec.image_input] = image_url or "about:blank"
    return spec.build_input(params)


def plan_stage(
    script: Script,
    registry: Registry,
    stage: str,
    states: dict[str, SectionState],
    keyframe_urls: dict[tuple[str, int], str] | None = None,
) -> list[PlannedJob]:
    """Every prediction the stage needs for the current takes.

    An image-to-video clip is planned only once its keyframe for that take is stored
    (`keyframe_urls[(section, take)]`); estimates pass `keyframe_urls=None` to plan them all.
    """
    jobs: list[PlannedJob] = []
    if stage == "soundtrack":
        if script.soundtrack is not None:
            take = states.get("", SectionState()).take  # an edit may have moved it on
            spec = registry.get(script.soundtrack.model)
            model_input = build_input(
                spec,
                script.soundtrack,
                seed=take_seed(script.id, "", stage, take),
                retake=take > 1,
            )
            jobs.append(
                PlannedJob("", stage, take, spec, model_input, spec.estimate_cost(model_input))
            )
        return jobs
    if stage == "narration":
        # A section's narration spoken by its voice (its own, else the script's), for the
        # section's narration take, with the reviewer's corrections. Without a voice, nothing.
        for section in script.sections:
            voice = script.voice_of(section)
            if voice is None:
                continue
            state = states.get(section.id, SectionState())
            spec = registry.get(voice.model)
            model_input = speech_input(
                spec,
                narration_voice(voice, state.narration_overrides),
                spoken_words(section, state.narration_overrides),
            )
            jobs.append(
                PlannedJob(
                    section.id, stage, state.narration_take, spec, model_input,
                    spec.estimate_cost(model_input),
                )
            )  # fmt: skip
        return jobs
    for section in script.sections:
        state = states.get(section.id, SectionState())
        seed = state.overrides.get("seed")
        prompt = state.overrides.get("prompt")
        if stage == "keyframe" and section.keyframe is not None:
            spec = registry.get(section.keyframe.model)
            model_input = build_input(
                spec,
                section.keyframe,
                prompt=prompt,
                seed=seed
                if seed is not None
                else take_seed(script.id, section.id, stage, state.take),
                retake=state.take > 1,
            )
        elif stage == "clip" and section.clip is not None:
            spec = registry.get(section.clip.model)
            image_url = None
            if spec.task == "image-to-video" and keyframe_urls is not None:
                image_url = keyframe_urls.get((section.id, state.take))
                if image_url is None:
                    continue
            model_input = build_input(
                spec,
                section.clip,
                image_url=image_url,
                prompt=prompt if section.keyframe is None else None,
                seed=seed
                if seed is not None
                else take_seed(script.id, section.id, stage, state.take),
                retake=state.take > 1,
            )
        else:
            continue
        jobs.append(
            PlannedJob(
                section.id, stage, state.take, spec, model_input, spec.estimate_cost(model_input)
            )
        )
    return jobs


def estimate_script_cost(script: Script, registry: Registry) -> dict[str, Any]:
    """The estimated cost of one take of every section (its narration too) plus the soundtrack."""
    items = [job for stage in STAGES for job in plan_stage(script, registry, stage, {})]
    total = round(sum(job.estimated_cost_usd for job in items), 6)
    return {
        "total_usd": total,
        "budget_usd": script.budget_usd,
        "items": [
            {
                "section": job.section_id or "(soundtrack)",
                "stage": job.stage,
                "model": job.spec.id,
                "usd": job.estimated_cost_usd,
            }
            for job in items
        ],
    }


def check_budget(script: Script, registry: Registry) -> float:
    """Refuse a script whose estimate exceeds its budget; return the estimate."""
    total = float(estimate_script_cost(script, registry)["total_usd"])
    if script.budget_usd is not None and total > script.budget_usd:
        raise BudgetExceeded(
            f"script {script.id!r}: estimated cost {usd_text(total)} exceeds its budget "
            f"{usd_text(script.budget_usd)}"
        )
    return total
