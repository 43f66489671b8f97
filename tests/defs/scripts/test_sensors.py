"""The script-partitions sensor and the batch generation schedule on a real database."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from vsl_pipelines.db.database import Database
from vsl_pipelines.db.script_versions import record_version
from vsl_pipelines.db.scripts import insert_script, set_status
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.generation.schedules import build_generation_schedule
from vsl_pipelines.defs.resources import DatabaseResource, PacingResource
from vsl_pipelines.defs.scripts.sensors import build_script_partitions_sensor
from vsl_pipelines.domain.script import Script


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def store(db: Database, script: Script, *ids: str, status: str = "queued") -> None:
    with db.connect() as conn:
        for script_id in ids:
            insert_script(
                conn, script.model_copy(update={"id": script_id}), None, default_workspace_id(conn)
            )
            set_status(conn, script_id, status)


def tick_result(db: Database, instance: dg.DagsterInstance, batch: int = 10) -> dg.SensorResult:
    """One sensor tick; its partition requests are applied like the daemon does."""
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "database": DatabaseResource(url=db.url),
            "pacing": PacingResource(schedule_batch_size=batch),
        },
    )
    result = build_script_partitions_sensor()(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        assert request.partitions_def_name == "scripts"
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return result


def tick(db: Database, instance: dg.DagsterInstance) -> list[str]:
    """The partitions one tick added."""
    result = tick_result(db, instance)
    return [
        key
        for request in result.dynamic_partitions_requests or []
        if isinstance(request, dg.AddDynamicPartitionsRequest)
        for key in request.partition_keys
    ]


def test_new_queued_scripts_start_generating_at_once_up_to_a_batch(
    db: Database, stored_script: Script, instance: dg.DagsterInstance
) -> None:
    store(db, stored_script, "a-queued", "b-queued")
    store(db, stored_script, "in-review", status="review")
    result = tick_result(db, instance, batch=2)
    started = [r.partition_key for r in result.run_requests or []]
    assert len(started) == 2 and set(started) <= {"spring-launch", "a-queued", "b-queued"}
    for request in result.run_requests or []:
        assert request.run_key == f"generate:{request.partition_key}:v1"
        assert request.tags["vsl/step"] == "requests"
    # Known partitions are not started again by the sensor: the schedule takes what is left.
    assert not tick_result(db, instance, batch=2).run_requests


def test_a_script_an_edit_queued_again_starts_at_the_next_tick(
    db: Database, stored_script: Script, instance: dg.DagsterInstance
) -> None:
    """A saved edit (version 2) queues the script again: the sensor starts it under a run key of
    that version, once; the schedule's key for it is the same."""
    store(db, stored_script, "edited")
    tick_result(db, instance)  # registered (and its first generation started)
    with db.connect() as conn:
        set_status(conn, "edited", "review")
        assert not tick_result(db, instance).run_requests
        record_version(conn, "edited", 2, {"id": "edited"}, "writer@vsl.local")
        set_status(conn, "edited", "queued")
    [request] = tick_result(db, instance).run_requests or []
    assert (request.partition_key, request.run_key) == ("edited", "generate:edited:v2")
    assert [r.run_key for r in schedule(db, instance, 10) if r.partition_key == "edited"] == [
        "generate:edited:v2"
    ]


def test_new_scripts_become_partitions_once(
    db: Database, stored_script: Script, instance: dg.DagsterInstance
) -> None:
    store(db, stored_script, "autumn-sale")
    assert sorted(tick(db, instance)) == ["autumn-sale", "spring-launch"]
    assert sorted(instance.get_dynamic_partitions("scripts")) == ["autumn-sale", "spring-launch"]
    assert tick(db, instance) == []

    store(db, stored_script, "winter-deal")
    assert tick(db, instance) == ["winter-deal"]
    assert len(instance.get_dynamic_partitions("scripts")) == 3


def test_a_partition_registered_elsewhere_is_not_added_again(
    db: Database, stored_script: Script, instance: dg.DagsterInstance
) -> None:
    instance.add_dynamic_partitions("scripts", ["spring-launch"])  # e.g. by `vsl scripts add`
    assert tick(db, instance) == []


def schedule(db: Database, instance: dg.DagsterInstance, batch: int) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(
        instance=instance,
        resources={
            "database": DatabaseResource(url=db.url),
            "pacing": PacingResource(schedule_batch_size=batch),
        },
    )
    return list(build_generation_schedule()(context))  # type: ignore[arg-type]


def test_the_schedule_starts_queued_registered_scripts_in_batches(
    db: Database, stored_script: Script, instance: dg.DagsterInstance
) -> None:
    store(db, stored_script, "a-queued", "b-queued")
    store(db, stored_script, "generating-one", status="generating")
    store(db, stored_script, "in-review", status="review")
    store(db, stored_script, "done", status="compiled")
    tick(db, instance)
    store(db, stored_script, "not-registered-yet")

    requests = schedule(db, instance, 2)
    assert len(requests) == 2
    for request in requests:
        assert request.run_key == f"generate:{request.partition_key}:v1"
        assert request.tags["vsl/script_id"] == request.partition_key
        assert request.tags["vsl/step"] == "requests"  # the per-step concurrency limit applies
    queued = {"spring-launch", "a-queued", "b-queued"}
    assert {r.partition_key for r in requests} < queued

    with db.connect() as conn:
        for request in requests:
            set_status(conn, str(request.partition_key), "generating")
    [last] = schedule(db, instance, 2)
    assert last.partition_key in queued - {r.partition_key for r in requests}

    with db.connect() as conn:
        set_status(conn, str(last.partition_key), "generating")
    assert schedule(db, instance, 2) == []
    tick(db, instance)
    assert [r.partition_key for r in schedule(db, instance, 2)] == ["not-registered-yet"]
