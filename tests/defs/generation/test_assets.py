"""Generation assets materialized with `dagster.materialize` on a test instance."""

import dagster as dg
import pytest

from tests.fixtures.flow import Flow
from tests.fixtures.pipeline import wait_for_jobs
from vsl_pipelines.defs.generation.assets import GENERATION_ASSETS, NO_FAILED
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient

keyframe_requests = GENERATION_ASSETS["keyframe_requests"]
keyframes = GENERATION_ASSETS["keyframes"]


def _materialize(flow: Flow, assets: list) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        partition_key="spring-launch",
        resources=flow.resources,
        instance=flow.instance,
        selection=assets,
    )


def test_requests_then_collection_with_metadata_and_checks(
    flow: Flow, stored_script: Script, prediction_client: PredictionClient
) -> None:
    flow.instance.add_dynamic_partitions("scripts", ["spring-launch"])
    flow.sandbox.knobs.fail_next = 1  # one of the three keyframes fails
    requested = _materialize(flow, [keyframe_requests])
    [event] = requested.asset_materializations_for_node("keyframe_requests")
    assert event.metadata["submitted"].value == 3
    # Two flux-schnell images ($0.003) and an sdxl one (5 s on an L40S at $0.000975/s).
    assert event.metadata["estimated_cost_usd"].value == pytest.approx(0.006 + 0.004875)

    wait_for_jobs(flow.db, prediction_client, "spring-launch", "keyframe")
    collected = _materialize(flow, [keyframes])
    [event] = collected.asset_materializations_for_node("keyframes")
    assert event.metadata["takes_stored"].value == 2
    assert event.metadata["failed"].value == 1
    assert "data:image/jpeg;base64," in event.metadata["takes"].value
    [check] = collected.get_asset_check_evaluations()
    assert check.check_name == NO_FAILED and not check.passed

    # Re-materializing the request asset resubmits only the failed keyframe.
    again = _materialize(flow, [keyframe_requests])
    [event] = again.asset_materializations_for_node("keyframe_requests")
    assert event.metadata["submitted"].value == 1 and event.metadata["already_done"].value == 2
