"""The webhook sensor over a real inbox, real jobs and real sandbox predictions."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from tests.fixtures.aws import REGION
from tests.fixtures.redis import connections_received
from tests.fixtures.sandbox import SANDBOX_TOKEN
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import JobRow
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.generation.sensors import build_webhook_sensor, webhook_tick
from vsl_pipelines.defs.resources import (
    DatabaseResource,
    InboxResource,
    JobStatusResource,
    PacingResource,
    ReplicateResource,
)
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.collect import collect_stage
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.inbox.dynamodb import DynamoInbox
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.services.generation import Progress, Submission
from vsl_pipelines.storage.local import LocalMediaStore

SCRIPT = "spring-launch"


def _finished(client: PredictionClient, prediction_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        prediction = client.get(prediction_id)
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        if time.monotonic() > deadline:
            raise TimeoutError(f"prediction {prediction_id} still {prediction['status']}")
        time.sleep(0.05)


def _body(prediction: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**prediction, **changes}, default=str)


def _job_rows(db: Database) -> list[JobRow]:
    with db.connect() as conn:
        return job_rows.all_jobs(conn, SCRIPT)


@pytest.fixture
def submitted(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> dict[str, dict[str, Any]]:
    """Keyframes and soundtrack submitted to the sandbox and finished: {section or '': prediction}."""
    for stage in ("keyframe", "soundtrack"):
        submission.submit(SCRIPT, stage)
    return {
        job.section_id: _finished(prediction_client, job.prediction_id) for job in _job_rows(db)
    }


@pytest.fixture
def inbox_resource(db: Database) -> InboxResource:
    return InboxResource(database=DatabaseResource(url=db.url))


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _tick(
    cursor: int, db: Database, inbox_resource: InboxResource, batch: int = 200
) -> tuple[list[dg.RunRequest], int, int]:
    return webhook_tick(
        cursor,
        inbox_resource.inbox(),
        Progress(db, JobStatusLayers(db)),
        PacingResource(sensor_batch_size=batch),
    )


def _keys(requests: list[dg.RunRequest]) -> set[str]:
    return {r.run_key for r in requests if r.run_key}


def test_the_sensor_applies_events_and_advances_its_cursor(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    sandbox: RunningSandbox,
    instance: dg.DagsterInstance,
) -> None:
    assert {j.status for j in _job_rows(db)} == {"starting"}
    for section, prediction in submitted.items():
        assert inbox.put(f"msg_{section or 'soundtrack'}", _body(prediction))
    last_seq = inbox.latest_cursor()
    resources = {
        "database": DatabaseResource(url=db.url),
        "inbox": InboxResource(database=DatabaseResource(url=db.url)),
        "replicate": ReplicateResource(
            base_url=sandbox.base_url.removesuffix("/v1"), api_token=SANDBOX_TOKEN
        ),
        "pacing": PacingResource(),
        "job_status": JobStatusResource(database=DatabaseResource(url=db.url)),
    }
    webhook_sensor = build_webhook_sensor()
    with dg.build_sensor_context(cursor="0", resources=resources, instance=instance) as context:
        result = webhook_sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert result.cursor == str(last_seq)
    assert {j.status for j in _job_rows(db)} == {"succeeded"}
    assert sorted(r.job_name for r in result.run_requests or []) == [
        "collect_keyframes",
        "collect_soundtrack",
    ]
    assert {r.partition_key for r in result.run_requests or []} == {SCRIPT}

    with dg.build_sensor_context(
        cursor=result.cursor, resources=resources, instance=instance
    ) as context:
        again = webhook_sensor(context)
    assert isinstance(again, dg.SensorResult)
    assert again.cursor == str(last_seq)
    assert _keys(list(again.run_requests or [])) == _keys(list(result.run_requests or []))


def test_a_batch_bound_drains_the_inbox_over_several_ticks(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
) -> None:
    for section, prediction in submitted.items():
        inbox.put(f"msg_{section or 'soundtrack'}", _body(prediction))
    inbox.put("msg_unknown", _body(submitted["hook"], id="no-such-prediction"))
    seqs = [event.seq for event in inbox.read_after(0, 100)]
    assert len(seqs) == 5

    cursors, counts = [], []
    cursor = 0
    for _ in range(3):
        _, cursor, applied = _tick(cursor, db, inbox_resource, batch=2)
        cursors.append(cursor)
        counts.append(applied)
    assert cursors == [seqs[1], seqs[3], seqs[4]]
    assert counts == [2, 2, 1]
    _, final, applied = _tick(cursor, db, inbox_resource, batch=2)
    assert (final, applied) == (seqs[4], 0)
    assert {j.status for j in _job_rows(db)} == {"succeeded"}


def test_a_redelivered_webhook_is_stored_and_applied_once(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
) -> None:
    body = _body(submitted["hook"])
    assert inbox.put("msg_hook", body) is True
    assert inbox.put("msg_hook", body) is False
    _, cursor, applied = _tick(0, db, inbox_resource)
    assert applied == 1
    hook = next(j for j in _job_rows(db) if j.section_id == "hook")
    assert hook.status == "succeeded"

    assert inbox.put("msg_hook", body) is False  # a late redelivery after the tick
    _, again, applied = _tick(cursor, db, inbox_resource)
    assert (again, applied) == (cursor, 0)
    with db.connect() as conn:
        stored = conn.execute("SELECT count(*) AS n FROM webhook_inbox").fetchone()
    assert stored["n"] == 1
    unchanged = next(j for j in _job_rows(db) if j.section_id == "hook")
    assert unchanged.updated_at == hook.updated_at


def test_a_late_processing_event_leaves_the_job_succeeded(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
) -> None:
    succeeded = submitted["hook"]
    assert succeeded["status"] == "succeeded" and succeeded["output"]
    inbox.put("msg_done", _body(succeeded))
    inbox.put("msg_late", _body(succeeded, status="processing", output=None, completed_at=None))
    _, cursor, applied = _tick(0, db, inbox_resource)
    assert applied == 2 and cursor == inbox.latest_cursor()
    hook = next(j for j in _job_rows(db) if j.section_id == "hook")
    assert hook.status == "succeeded"
    assert hook.output == succeeded["output"]
    assert hook.completed_at is not None


def test_run_keys_are_stable_for_a_state_and_new_for_a_new_state(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
    media_store: LocalMediaStore,
) -> None:
    for section in ("hook", "offer"):
        inbox.put(f"msg_{section}", _body(submitted[section]))
    requests, cursor, _ = _tick(0, db, inbox_resource)
    assert requests == [], "a stage with an active job is not collected yet"

    inbox.put("msg_close", _body(submitted["close"]))
    first, cursor, _ = _tick(cursor, db, inbox_resource)
    assert [r.job_name for r in first] == ["collect_keyframes"]
    [key] = _keys(first)
    assert key.startswith(f"keyframes:{SCRIPT}:")
    second, cursor, applied = _tick(cursor, db, inbox_resource)
    assert applied == 0 and _keys(second) == {key}, "the same state must give the same key"

    collect_stage(db, media_store, SCRIPT, "keyframe", JobStatusLayers(db))
    third, _, _ = _tick(cursor, db, inbox_resource)
    # Collected keyframes: the still section is rendered and the model clips are requested.
    assert sorted(r.job_name for r in third) == ["collect_clips", "generate"]
    assert {k.split(":")[0] for k in _keys(third)} == {"clips", "clips-due"}
    assert _keys(third).isdisjoint(_keys(first))


def test_clips_wait_for_a_keyframes_run_in_flight(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
    media_store: LocalMediaStore,
    instance: dg.DagsterInstance,
) -> None:
    for section in ("hook", "offer", "close"):
        inbox.put(f"msg_{section}", _body(submitted[section]))
    pacing = PacingResource()
    _, cursor, _ = webhook_tick(
        0, inbox_resource.inbox(), Progress(db, JobStatusLayers(db)), pacing, instance
    )
    # The keyframes run has stored the keyframes and not yet requested the clips.
    keyframes_run = dg.DagsterRun(
        job_name="collect_keyframes",
        status=dg.DagsterRunStatus.STARTED,
        tags={"vsl/script_id": SCRIPT, "vsl/step": "keyframes"},
    )
    instance.add_run(keyframes_run)
    collect_stage(db, media_store, SCRIPT, "keyframe", JobStatusLayers(db))
    held, cursor, _ = webhook_tick(
        cursor, inbox_resource.inbox(), Progress(db, JobStatusLayers(db)), pacing, instance
    )
    assert [r.job_name for r in held] == [], "nothing asked for while the keyframes run works"
    instance.report_run_failed(keyframes_run)  # it died before requesting the clips
    after, _, _ = webhook_tick(
        cursor, inbox_resource.inbox(), Progress(db, JobStatusLayers(db)), pacing, instance
    )
    assert sorted(r.job_name for r in after) == ["collect_clips", "generate"]
    assert {r.run_key.split(":")[0] for r in after if r.run_key} == {"clips", "clips-due"}


def test_a_failed_prediction_requests_a_retry_with_its_own_key(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    sandbox: RunningSandbox,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
) -> None:
    sandbox.knobs.fail_next = 1
    submission.submit(SCRIPT, "soundtrack")
    [job] = _job_rows(db)
    failed = _finished(prediction_client, job.prediction_id)
    assert failed["status"] == "failed"
    inbox.put("msg_failed", _body(failed))
    requests, _, _ = _tick(0, db, inbox_resource)
    retry = [r for r in requests if r.run_key and r.run_key.startswith("retry:")]
    assert [r.job_name for r in retry] == ["generate"]
    assert [r.partition_key for r in retry] == [SCRIPT]


def test_a_webhook_for_an_unknown_prediction_changes_nothing(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
) -> None:
    before = _job_rows(db)
    inbox.put("msg_stranger", _body(submitted["hook"], id="p_not_ours"))
    requests, cursor, applied = _tick(0, db, inbox_resource)
    assert (cursor, applied) == (inbox.latest_cursor(), 1)
    assert requests == []
    assert _job_rows(db) == before


def test_every_generating_script_gets_its_runs_whatever_the_batch(
    submission: Submission,
    db: Database,
    stored_script: Script,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
) -> None:
    scripts = [SCRIPT, "autumn-sale", "winter-deal"]
    with db.connect() as conn:
        for script_id in scripts[1:]:
            insert_script(
                conn,
                stored_script.model_copy(update={"id": script_id}),
                None,
                default_workspace_id(conn),
            )
    for script_id in scripts:
        submission.submit(script_id, "soundtrack")
    with db.connect() as conn:
        jobs = conn.execute("SELECT script_id, prediction_id FROM jobs").fetchall()
    for job in jobs:
        inbox.put(
            f"msg_{job['script_id']}", _body(_finished(prediction_client, job["prediction_id"]))
        )

    requested: set[str] = set()
    cursor = 0
    for _ in range(4):
        requests, cursor, _ = _tick(cursor, db, inbox_resource, batch=2)
        requested |= {str(r.partition_key) for r in requests}
    assert requested == set(scripts)


def test_ticks_share_one_redis_connection(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
    sandbox: RunningSandbox,
    private_redis_url: str,
) -> None:
    """Each tick moves one job (so its status document goes to Redis) yet the sensor's process
    keeps using the connection it opened first, instead of a new client per tick."""
    replicate = ReplicateResource(
        base_url=sandbox.base_url.removesuffix("/v1"),
        api_token=SANDBOX_TOKEN,
        redis_url=private_redis_url,
    )
    layers = JobStatusResource(
        database=DatabaseResource(url=db.url), redis_url=private_redis_url
    ).layers()
    before = connections_received(private_redis_url)
    cursor, ticks = 0, 0
    for status in ("processing", "succeeded"):
        for section, prediction in submitted.items():
            inbox.put(f"msg_{section or 'soundtrack'}_{status}", _body(prediction, status=status))
            _, cursor, applied = webhook_tick(
                cursor,
                inbox_resource.inbox(),
                Progress(db, layers, replicate.client()),
                PacingResource(),
            )
            assert applied == 1
            ticks += 1
    with db.connect() as conn:
        ids = [r["public_id"] for r in conn.execute("SELECT public_id FROM jobs").fetchall()]
    assert {layers.read(str(i))[1] for i in ids} == {"redis"}
    opened = connections_received(private_redis_url) - before - 1  # less the counter's own
    assert ticks == 8 and opened <= 1, f"{ticks} ticks opened {opened} Redis connections"


def test_a_stage_waits_for_its_collecting_run_in_flight(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    inbox: PostgresInbox,
    inbox_resource: InboxResource,
    instance: dg.DagsterInstance,
) -> None:
    for section in ("hook", "offer", "close"):
        inbox.put(f"msg_{section}", _body(submitted[section]))
    pacing = PacingResource()
    first, cursor, _ = webhook_tick(
        0, inbox_resource.inbox(), Progress(db, JobStatusLayers(db)), pacing, instance
    )
    assert [r.job_name for r in first] == ["collect_keyframes"]
    run = dg.DagsterRun(
        job_name="collect_keyframes",
        status=dg.DagsterRunStatus.STARTED,
        tags={"vsl/script_id": SCRIPT, "vsl/step": "keyframes"},
    )
    instance.add_run(run)
    # The run has stored one keyframe of three: the two left are a new state, not a new run.
    hook = next(j for j in _job_rows(db) if j.section_id == "hook")
    with db.connect() as conn:
        job_rows.mark_collected(conn, hook.id)
    held, cursor, _ = webhook_tick(
        cursor, inbox_resource.inbox(), Progress(db, JobStatusLayers(db)), pacing, instance
    )
    assert held == [], "no second keyframes run beside the one in flight"
    instance.report_run_failed(run)  # it died with two keyframes left
    after, _, _ = webhook_tick(
        cursor, inbox_resource.inbox(), Progress(db, JobStatusLayers(db)), pacing, instance
    )
    assert [r.job_name for r in after] == ["collect_keyframes"]
    assert _keys(after).isdisjoint(_keys(first)), "the two left are asked for under their key"


def test_over_the_dynamodb_inbox_each_run_is_asked_for_once(
    db: Database,
    submitted: dict[str, dict[str, Any]],
    dynamo_table: tuple[Any, str],
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sensor's cursor and run keys over the DynamoDB inbox (moto), as over Postgres: a
    redelivered webhook is stored once and applied once, and a state asks for its run once."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")  # boto3 in the resource reads them itself
    client, table = dynamo_table
    writer = DynamoInbox(table, client=client)
    resource = InboxResource(
        database=DatabaseResource(url=db.url),
        dynamodb_table=table,
        aws_endpoint_url=moto_server,
        aws_region=REGION,
    )
    for section in ("hook", "offer", "close"):
        assert writer.put(f"msg_{section}", _body(submitted[section])) is True
    assert writer.put("msg_hook", _body(submitted["hook"])) is False
    first, cursor, applied = _tick(0, db, resource)
    assert applied == 3 and [r.job_name for r in first] == ["collect_keyframes"]
    assert writer.put("msg_offer", _body(submitted["offer"])) is False  # after the tick
    again, same, applied = _tick(cursor, db, resource)
    assert (same, applied) == (cursor, 0)
    assert _keys(again) == _keys(first), "the same state, the same run key"
