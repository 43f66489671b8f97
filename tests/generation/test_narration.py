"""Narration through the generation path: planned per section, created, collected as takes."""

import pytest

from tests.fixtures.pipeline import wait_for_jobs
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import load_script
from vsl_pipelines.generation.collect import collect_stage, review_ready
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.progress import next_runs
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.services.generation import Submission
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.storage.local import LocalMediaStore

NARRATED = PROJECT_ROOT / "config" / "scripts" / "spring-launch-narrated.yaml"
SCRIPT = "spring-launch-narrated"


def test_a_script_with_a_voice_gets_a_narration_take_per_section(
    submission: Submission,
    db: Database,
    registry: Registry,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    script = load_script(NARRATED, registry)
    with db.connect() as conn:
        script_rows.insert_script(conn, script, str(NARRATED), default_workspace_id(conn))
    report = submission.submit(SCRIPT, "narration")
    assert sorted(p["section"] for p in report.submitted) == ["close", "hook", "offer"]
    assert {p["model"] for p in report.submitted} == {"kokoro-82m"}
    assert report.estimated_cost_usd == pytest.approx(3 * 10 * 0.000225)  # 10 s on a T4
    wait_for_jobs(db, prediction_client, SCRIPT, "narration")
    assert [r.step for r in next_runs(db, SCRIPT) if r.step != "requests"] == ["narrations"]
    collected = collect_stage(db, media_store, SCRIPT, "narration", JobStatusLayers(db))
    assert sorted(t["key"] for t in collected.takes) == [
        f"scripts/{SCRIPT}/{section}/narration-v1.wav" for section in ("close", "hook", "offer")
    ]
    durations = {}
    for take in collected.takes:
        probe = probe_media(media_store.local_path(take["key"]))
        assert probe.kind == "audio" and take["thumbnail"] is None
        durations[take["section"]] = probe.duration_s
    assert all(1.0 < (d or 0) < 8 for d in durations.values()), durations
    # The narration alone does not make the script reviewable: its clips are still missing.
    assert not review_ready(db, SCRIPT)
    with db.connect() as conn:
        assert len(take_rows.takes_of(conn, SCRIPT, "narration")) == 3
