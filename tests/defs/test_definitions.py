"""The Dagster graph as a snapshot: assets, checks, jobs, sensors and the schedule.

A change to the graph shows up in review as a change to `snapshots/definitions.json`;
regenerate it with `VSL_UPDATE_SNAPSHOT=1 pytest tests/defs/test_definitions.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from vsl_pipelines.definitions import build_definitions
from vsl_pipelines.settings import Settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def describe(defs: dg.Definitions) -> dict[str, Any]:
    # Resolving definitions reads the current instance's state; an earlier test's closed
    # instance must not be the one it finds.
    with dg.instance_for_test():
        return _describe(defs)


def _describe(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(d.to_user_string() for d in node.parent_keys),
            "kinds": sorted(node.kinds),
            "partitions": getattr(node.partitions_def, "name", None),
            "checks": sorted(c.name for c in node.check_keys),
            "description": node.description,
        }
    jobs = {
        job.name: sorted(
            k.to_user_string()
            for k in defs.resolve_job_def(job.name).asset_layer.executable_asset_keys
        )
        for job in defs.jobs or []
    }
    sensors = {
        sensor.name: {
            "interval_s": sensor.minimum_interval_seconds,
            "jobs": sorted(j.name for j in sensor.jobs) if sensor.has_jobs else [],
            "default_status": sensor.default_status.value,
            "resources": sorted(sensor.required_resource_keys),
        }
        for sensor in defs.sensors or []
        if isinstance(sensor, dg.SensorDefinition)
    }
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "job": schedule.job_name,
            "default_status": schedule.default_status.value,
            "resources": sorted(schedule.required_resource_keys),
        }
        for schedule in defs.schedules or []
        if isinstance(schedule, dg.ScheduleDefinition)
    }
    return {
        "assets": assets,
        "jobs": jobs,
        "sensors": sensors,
        "schedules": schedules,
        "resources": sorted(defs.resources or {}),
    }


def test_definitions_load_as_a_code_location_would() -> None:
    """What `dagster dev` and the daemon do first: every job resolves, no name collides."""
    with dg.instance_for_test():
        dg.Definitions.validate_loadable(build_definitions(Settings.model_construct()))


def test_definitions_match_the_snapshot() -> None:
    current = describe(build_definitions(Settings.model_construct()))  # defaults, not the env
    if os.environ.get("VSL_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), (
        "the Dagster graph changed; review it and regenerate the snapshot "
        "(VSL_UPDATE_SNAPSHOT=1 pytest tests/defs/test_definitions.py)"
    )


def test_sensor_intervals_and_cron_come_from_settings() -> None:
    settings = Settings(
        VSL_WEBHOOK_SENSOR_INTERVAL=1,
        VSL_APPROVAL_SENSOR_INTERVAL=2,
        VSL_SCRIPTS_SENSOR_INTERVAL=3,
        VSL_COMPILE_SENSOR_INTERVAL=4,
        VSL_GENERATION_SCHEDULE="0 * * * *",
    )  # type: ignore[call-arg]
    described = describe(build_definitions(settings))
    intervals = {name: s["interval_s"] for name, s in described["sensors"].items()}
    assert intervals == {
        "webhook_sensor": 1,
        "approval_sensor": 2,
        "script_partitions_sensor": 3,
        "compile_request_sensor": 4,
    }
    assert described["schedules"]["generation_schedule"]["cron"] == "0 * * * *"
