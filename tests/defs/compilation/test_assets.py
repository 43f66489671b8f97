"""The compiled video as an operator meets it in Dagster: its metadata links to the media, the
studio page and the download, the workspace is told the video is ready, and a refused compile
fails its run with the precise reason (not a stack trace)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from tests.fixtures.media import ClipFactory
from tests.fixtures.sandbox import WebhookSink
from tests.fixtures.scripts import record_clip
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.defs.compilation.assets import compiled_video
from vsl_pipelines.defs.compilation.sensors import compile_request_tick
from vsl_pipelines.defs.resources import DatabaseResource, MediaStoreResource
from vsl_pipelines.defs.tags import COMPILATION
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.compilation import CompileRequests, request_compile
from vsl_pipelines.services.review import decide

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")
STUDIO = "https://vsl.example.com"


def _resources(db: Database, root: Path) -> dict[str, object]:
    return {
        "database": DatabaseResource(url=db.url),
        "media_store": MediaStoreResource(root=str(root), public_base_url=f"{STUDIO}/media"),
    }


def _materialize(db: Database, root: Path, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("scripts", [SCRIPT])
        return dg.materialize(
            [compiled_video],
            partition_key=SCRIPT,
            tags=tags,
            instance=instance,
            resources=_resources(db, root),
            raise_on_error=False,
        )


def _approve(db: Database, sections: tuple[str, ...]) -> None:
    with db.connect() as conn:
        for section in SECTIONS:
            record_clip(conn, section)
        for section in sections:
            decide(conn, SCRIPT, section, "approved")
        conn.execute("UPDATE takes SET duration_s = 1.0 WHERE script_id = %s", (SCRIPT,))


def test_the_video_s_metadata_links_media_and_studio_and_the_workspace_is_told(
    db: Database,
    stored_script: Script,
    make_clip: ClipFactory,
    tmp_path: Path,
    webhook_sink: WebhookSink,
) -> None:
    _approve(db, SECTIONS)
    root = tmp_path / "media"
    for section in SECTIONS:
        key = root / f"scripts/{SCRIPT}/{section}/clip-v1.mp4"
        key.parent.mkdir(parents=True)
        shutil.copy(make_clip(seconds=1.0), key)
    with db.connect() as conn:
        workspace_rows.set_notification_url(
            conn, default_workspace_id(conn), f"{webhook_sink.url}/T1/B2/secret", "test"
        )
        compilation_id = request_compile(
            conn,
            SCRIPT,
            quality="draft",
            overrides={"size": "320x180"},
            requested_by="ana@example.com",
        ).id
    [request] = compile_request_tick(CompileRequests(db), batch=10)
    # Only what Dagster keys on: the step's concurrency limit, the script, the request.
    assert request.tags == {
        "vsl/script_id": SCRIPT,
        "vsl/step": "compile",
        COMPILATION: str(compilation_id),
    }
    result = _materialize(db, root, dict(request.tags))
    assert result.success
    metadata = result.asset_materializations_for_node("compiled_video")[0].metadata
    key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"
    page = f"{STUDIO}/studio/scripts/{SCRIPT}"
    urls = {name: metadata[name] for name in ("video", "studio", "download")}
    assert all(isinstance(v, dg.UrlMetadataValue) for v in urls.values())
    assert urls["video"].value == f"{STUDIO}/media/{key}"
    assert urls["studio"].value == page
    assert urls["download"].value == f"{page}/compilations/{compilation_id}/download"
    assert metadata["requested_by"].value == "ana@example.com"
    assert metadata["notification"].value.startswith("sent to 127.0.0.1:")
    [told] = webhook_sink.received
    assert told.payload["event"] == "video_ready" and told.payload["url"] == page
    assert told.payload["compilation"]["id"] == compilation_id


def test_a_refused_compile_fails_its_run_with_the_reason(
    db: Database, stored_script: Script, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    _approve(db, ("hook", "offer"))
    with db.connect() as conn:
        row = compilation_rows.request_compilation(
            conn, SCRIPT, output_format="mp4", quality="draft", options={}, requested_by="t"
        )
    assert row is not None
    result = _materialize(db, tmp_path / "media", {COMPILATION: str(row.id)})
    assert not result.success
    [failure] = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None, "a dg.Failure, not an exception's stack trace"
    reason = (
        "script 'spring-launch' cannot compile: section(s) close have no approval for their"
        " current take"
    )
    assert data.description == reason
    assert data.metadata["sections_without_approval"].value == "close"
    with db.connect() as conn:
        failed = compilation_rows.compilation(conn, row.id)
    assert failed is not None and (failed.status, failed.error) == ("failed", reason)
    assert webhook_sink.received == [], "no video, no notification"
