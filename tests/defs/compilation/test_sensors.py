"""The compile request sensor over real compilation rows, and the compile run it launches
carrying out a request (real clips, FFmpeg, the output decoded)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from tests.fixtures.media import ClipFactory
from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import set_status
from vsl_pipelines.defs.compilation.assets import compiled_video
from vsl_pipelines.defs.compilation.sensors import (
    build_compile_request_sensor,
    compile_request_tick,
)
from vsl_pipelines.defs.resources import DatabaseResource, MediaStoreResource, PacingResource
from vsl_pipelines.defs.review.sensors import approval_tick
from vsl_pipelines.defs.tags import COMPILATION
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.compilation import CompileInFlight, CompileRequests, request_compile
from vsl_pipelines.services.review import Review, decide
from vsl_pipelines.services.script_state import script_status

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


@pytest.fixture
def approved(db: Database, stored_script: Script) -> Database:
    """The sample script with take 1 of every section approved."""
    with db.connect() as conn:
        for section in SECTIONS:
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
        # The clips the run compiles last 1 s (`make_clip`).
        conn.execute("UPDATE takes SET duration_s = 1.0 WHERE script_id = %s", (SCRIPT,))
    return db


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _request(db: Database, **kwargs: Any) -> int:
    with db.connect() as conn:
        return request_compile(conn, SCRIPT, **kwargs).id


def _row(db: Database, compilation_id: int) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM compilations WHERE id = %s", (compilation_id,)).fetchone()
    assert row is not None
    return row


def test_each_request_gets_one_run_keyed_by_its_id(approved: Database) -> None:
    assert compile_request_tick(CompileRequests(approved), batch=200) == []
    compilation_id = _request(approved, output_format="avi", quality="draft")
    [request] = compile_request_tick(CompileRequests(approved), batch=200)
    assert request.run_key == f"compilation:{compilation_id}"
    assert (request.job_name, request.partition_key) == ("compile", SCRIPT)
    assert request.tags["vsl/compilation_id"] == str(compilation_id)
    assert request.tags["vsl/step"] == "compile", "the per-step concurrency limit applies"
    # Until its run claims it, a tick asks again under the same key: Dagster launches it once.
    assert [r.run_key for r in compile_request_tick(CompileRequests(approved), batch=200)] == [
        request.run_key
    ]
    with approved.connect() as conn:
        conn.execute("UPDATE compilations SET status = 'running' WHERE id = %s", (compilation_id,))
    assert compile_request_tick(CompileRequests(approved), batch=200) == []


def test_the_automatic_request_after_the_last_approval_is_launched(
    db: Database, stored_script: Script
) -> None:
    with db.connect() as conn:
        for section in SECTIONS:
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
    assert approval_tick(0, Review(db), batch=200)[0] == []
    [request] = compile_request_tick(CompileRequests(db), batch=200)
    [row] = CompileRequests(db).requested(10)
    assert row.requested_by == "approval"  # in the materialization's metadata, not a tag
    assert request.tags == {
        "vsl/script_id": SCRIPT,
        "vsl/step": "compile",
        COMPILATION: str(row.id),
    }


def test_the_sensor_launches_the_requests(approved: Database, instance: dg.DagsterInstance) -> None:
    resources = {"database": DatabaseResource(url=approved.url), "pacing": PacingResource()}
    sensor = build_compile_request_sensor()
    compilation_id = _request(approved)
    result = sensor(dg.build_sensor_context(resources=resources, instance=instance))
    assert isinstance(result, dg.SensorResult)
    assert [r.run_key for r in result.run_requests or []] == [f"compilation:{compilation_id}"]


@pytest.mark.parametrize(("fmt", "codecs"), [("avi", ("mpeg4", "mp3")), ("webm", ("vp9", "opus"))])
def test_the_run_compiles_as_requested(
    approved: Database,
    instance: dg.DagsterInstance,
    make_clip: ClipFactory,
    tmp_path: Path,
    fmt: str,
    codecs: tuple[str, str],
) -> None:
    root = tmp_path / "media"
    for section, tone in zip(SECTIONS, (330, 440, 550), strict=True):
        key = root / f"scripts/{SCRIPT}/{section}/clip-v1.mp4"
        key.parent.mkdir(parents=True)
        shutil.copy(make_clip(seconds=1.0, tone=tone), key)
    compilation_id = _request(
        approved, output_format=fmt, quality="draft", overrides={"size": "320x180"}
    )
    [request] = compile_request_tick(CompileRequests(approved), batch=200)
    instance.add_dynamic_partitions("scripts", [SCRIPT])
    result = dg.materialize(
        [compiled_video],
        partition_key=request.partition_key,
        tags=dict(request.tags),
        instance=instance,
        resources={
            "database": DatabaseResource(url=approved.url),
            "media_store": MediaStoreResource(
                root=str(root), public_base_url="http://127.0.0.1:1/media", s3=S3Resource()
            ),
        },
    )
    assert result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == [], [(c.check_name, c.metadata) for c in failed]
    row = _row(approved, compilation_id)
    assert (row["status"], row["output_format"], row["quality"]) == ("succeeded", fmt, "draft")
    assert row["clip_count"] == 3 and row["output_key"].endswith(f".{fmt}")
    assert compile_request_tick(CompileRequests(approved), batch=200) == [], (
        "a finished request is not relaunched"
    )

    output = root / row["output_key"]
    assert row["size_bytes"] == output.stat().st_size
    with av.open(str(output)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (
            video.codec_context.codec.canonical_name,
            audio.codec_context.codec.canonical_name,
        ) == codecs
        frames = list(container.decode(video))
    assert len(frames) == 90, "3 clips of 1 s at 30 fps, every frame decoded"
    assert {(f.width, f.height) for f in frames} == {(320, 180)}, "the size override applied"
    assert abs(row["duration_s"] - 3.0) < 0.04


def _claimed(db: Database) -> int:
    """A compilation its run has claimed (`running`), the script `compiling`."""
    compilation_id = _request(db)
    with db.connect() as conn:
        assert compilation_rows.claim_compilation(conn, compilation_id, SCRIPT) is not None
        set_status(conn, SCRIPT, "compiling")
    return compilation_id


def _tick(db: Database, instance: dg.DagsterInstance) -> dg.SensorResult:
    sensor = build_compile_request_sensor()
    resources = {"database": DatabaseResource(url=db.url), "pacing": PacingResource()}
    result = sensor(dg.build_sensor_context(resources=resources, instance=instance))
    assert isinstance(result, dg.SensorResult)
    return result


def test_a_compilation_whose_run_died_is_released_so_the_script_compiles_again(
    approved: Database, instance: dg.DagsterInstance
) -> None:
    compilation_id = _claimed(approved)
    run = dg.DagsterRun(
        job_name="compile", status=dg.DagsterRunStatus.STARTED,
        tags={COMPILATION: str(compilation_id)},
    )  # fmt: skip
    instance.add_run(run)
    _tick(approved, instance)
    assert _row(approved, compilation_id)["status"] == "running", "its run is at work"
    with approved.connect() as conn, pytest.raises(CompileInFlight):
        request_compile(conn, SCRIPT)

    instance.report_run_failed(run)  # killed: the row it claimed says `running` for ever
    _tick(approved, instance)
    row = _row(approved, compilation_id)
    assert row["status"] == "failed" and run.run_id in row["error"]
    with approved.connect() as conn:
        assert script_status(conn, SCRIPT)["status"] == "review"
    again = _request(approved)
    assert again != compilation_id, "a new compile is accepted"
    assert [r.run_key for r in _tick(approved, instance).run_requests] == [f"compilation:{again}"]


def test_a_running_compilation_without_a_tagged_run_is_left_alone(
    approved: Database, instance: dg.DagsterInstance
) -> None:
    compilation_id = _claimed(approved)  # as a plain materialization of the partition claims it
    _tick(approved, instance)
    assert _row(approved, compilation_id)["status"] == "running"
