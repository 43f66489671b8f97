"""Generation assets materialized with `dagster.materialize` on a test instance: metadata,
checks, and the notification of the batch of takes that completes a script's set."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from tests.fixtures.flow import Flow
from tests.fixtures.pipeline import wait_for_jobs
from tests.fixtures.sandbox import WebhookSink
from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.generation.assets import GENERATION_ASSETS, NO_FAILED
from vsl_pipelines.defs.resources import DatabaseResource, JobStatusResource, MediaStoreResource
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.media.probe import probe_media

SCRIPT = "spring-launch"

keyframe_requests = GENERATION_ASSETS["keyframe_requests"]
keyframes = GENERATION_ASSETS["keyframes"]
clips = GENERATION_ASSETS["clips"]


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


def test_the_batch_that_completes_the_takes_notifies_the_workspace_once(
    db: Database,
    stored_script: Script,
    make_image: Callable[..., Path],
    tmp_path: Path,
    webhook_sink: WebhookSink,
) -> None:
    """The clips run that stores the last take (the offer's still, rendered from its
    keyframe) moves the script to review and posts one notification of the decisions waiting
    to the workspace's URL; running it again stores nothing and sends nothing."""
    resources = {
        "database": DatabaseResource(url=db.url),
        "media_store": MediaStoreResource(
            root=str(tmp_path / "media"), public_base_url="https://vsl.example.com/media"
        ),
        "job_status": JobStatusResource(database=DatabaseResource(url=db.url)),
    }
    store = resources["media_store"].store()
    image = make_image(320, 180)
    store.put_file("scripts/spring-launch/offer/keyframe-v1.png", image)
    with db.connect() as conn:
        take_rows.record_take(
            conn, script_id=SCRIPT, section_id="offer", stage="keyframe", take=1, job_id=None,
            media_key="scripts/spring-launch/offer/keyframe-v1.png", thumbnail_key=None,
            probe=probe_media(image).model_dump(mode="json"), duration_s=None,
        )  # fmt: skip
        take_rows.record_take(
            conn, script_id=SCRIPT, section_id="", stage="soundtrack", take=1, job_id=None,
            media_key="scripts/spring-launch/soundtrack-v1.wav", thumbnail_key=None, probe={},
            duration_s=12.0,
        )  # fmt: skip
        for section in ("hook", "close"):
            record_clip(conn, section)
        workspace_rows.set_notification_url(
            conn, default_workspace_id(conn), f"{webhook_sink.url}/T1/B2/secret", "test"
        )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("scripts", [SCRIPT])
        runs = [
            dg.materialize(
                [clips], partition_key=SCRIPT, resources=resources, instance=instance
            ).asset_materializations_for_node("clips")[0]
            for _ in range(2)
        ]
    first, second = (run.metadata for run in runs)
    assert first["takes_stored"].value == 1 and first["script_status"].value == "review"
    assert first["notification"].value.startswith("sent to 127.0.0.1:")
    assert second["takes_stored"].value == 0 and "notification" not in second
    [received] = webhook_sink.received
    assert received.payload["event"] == "decisions_waiting"
    assert received.payload["pending_decisions"] == 3
    assert received.payload["url"] == "https://vsl.example.com/studio/scripts/spring-launch"
