"""Each stage has one spelling; its step and asset names follow from it."""

from __future__ import annotations

from vsl_pipelines.defs.generation.assets import generation_assets
from vsl_pipelines.defs.generation.jobs import JOB_FOR_STEP
from vsl_pipelines.domain.stages import COLLECTING_STEPS, REQUESTS_STEP, Stage


def test_a_stage_is_its_database_name_and_names_its_step_and_assets() -> None:
    assert [str(stage) for stage in Stage] == ["keyframe", "clip", "soundtrack", "narration"]
    assert Stage("clip") is Stage.CLIP and Stage.CLIP == "clip"
    assert [(s.step, s.requests_asset) for s in Stage] == [
        ("keyframes", "keyframe_requests"),
        ("clips", "clip_requests"),
        ("soundtrack", "soundtrack_request"),
        ("narrations", "narration_requests"),
    ]
    assert {s.collected_asset for s in Stage} == COLLECTING_STEPS


def test_the_dagster_layer_uses_the_stages_names() -> None:
    names = {key.to_user_string() for asset in generation_assets for key in asset.keys}
    assert names == {s.requests_asset for s in Stage} | {s.collected_asset for s in Stage}
    assert set(JOB_FOR_STEP) == COLLECTING_STEPS | {REQUESTS_STEP}
