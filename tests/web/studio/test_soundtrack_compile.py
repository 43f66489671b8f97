"""A soundtrack edited in the studio compiles a new video once its new take is stored, over
plain HTTP, real Postgres and the sandbox: the script generated and every section approved (the
approval sensor's compile done), then only its soundtrack changed in the editor. Nothing is
asked at the save (the new soundtrack does not exist yet); the collection that stores the new
take, by the collecting run or at its webhook, brings the script back to review and asks for
exactly one compile, which mixes the new take. With a section still waiting for a decision, or
a script never approved, nothing is asked."""

from __future__ import annotations

import html
import json
import re
import time

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.fixtures.scripts import SAMPLE_SCRIPT, record_clip
from tests.web.studio.test_documents import _edit_fields
from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.compilations import CompilationRow
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.soundtracks import soundtrack_take
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.services.generation import Collection, Submission
from vsl_pipelines.services.intake import add_script
from vsl_pipelines.services.notifications import StudioLinks
from vsl_pipelines.services.review import Review
from vsl_pipelines.services.webhook_collection import WebhookCollector
from vsl_pipelines.storage.local import LocalMediaStore

SCRIPT = "spring-launch"
NEW_PROMPT = "dark cinematic drums, 80 bpm"


def _compilations(db: Database) -> list[CompilationRow]:
    with db.connect() as conn:
        return sorted(compilation_rows.compilations_of(conn, SCRIPT), key=lambda c: c.id)


def _status(db: Database) -> str:
    with db.connect() as conn:
        return script_rows.script_row(conn, SCRIPT).status


def _soundtrack_job(db: Database, take: int) -> job_rows.JobRow:
    with db.connect() as conn:
        [job] = [j for j in job_rows.latest_jobs(conn, SCRIPT, "soundtrack") if j.take == take]
    return job


def _finished(client: PredictionClient, prediction_id: str) -> dict[str, object]:
    """The prediction once it ended on the sandbox, as its final webhook would carry it."""
    deadline = time.monotonic() + 60
    while True:
        prediction = client.get(prediction_id)
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        assert time.monotonic() < deadline, "the sandbox kept the prediction running"
        time.sleep(0.1)


def _generate_soundtrack(
    db: Database,
    submission: Submission,
    client: PredictionClient,
    store: LocalMediaStore,
    take: int,
    path: str,
) -> bool:
    """The generation run's soundtrack prediction, then its output collected as `path` does it
    (`runs`: the collecting run's `Collection`; `webhook`: the service at its final webhook);
    whether the script came to review."""
    submitted = submission.submit(SCRIPT, "soundtrack").submitted
    assert [(p["section"], p["take"]) for p in submitted] == [("", take)]
    job = _soundtrack_job(db, take)
    assert job.prediction_id is not None
    prediction = _finished(client, job.prediction_id)
    assert prediction["status"] == "succeeded", prediction
    status = JobStatusLayers(db)
    if path == "runs":
        with db.connect() as conn:
            job_rows.apply_prediction(conn, prediction)  # the webhook sensor's part
        return Collection(db, store, status).collect(SCRIPT, "soundtrack").in_review
    before = _status(db)
    WebhookCollector(db, store, status, StudioLinks("http://127.0.0.1")).collect(
        json.dumps(prediction)
    )
    return before != "review" and _status(db) == "review"


def _approve(db: Database, *, but: str | None = None) -> None:
    """Every section's current take approved (but one), then the approval sensor's tick."""
    with db.connect() as conn:
        for row in script_rows.sections_of(conn, SCRIPT):
            if row.id != but:
                approval_rows.append_decision(
                    conn, script_id=SCRIPT, section_id=row.id, take=row.current_take,
                    decision="approved", reviewer="rita",
                )  # fmt: skip
    Review(db).act_after(0, 100)


def _compiled(db: Database, compilation: CompilationRow) -> None:
    """What the compile run records of a compilation it finished."""
    with db.connect() as conn:
        assert compilation_rows.claim_compilation(conn, compilation.id, SCRIPT) is not None
        compilation_rows.finish_compilation(
            conn, compilation.id, output_key=f"final/{SCRIPT}-c{compilation.id}.mp4",
            output_uri=f"file:///final/{SCRIPT}-c{compilation.id}.mp4", duration_s=8.0,
            size_bytes=1000, clip_count=3, cost_usd=0.1, plan={},
        )  # fmt: skip
        script_rows.set_status(conn, SCRIPT, "compiled")


def _generated(
    db: Database,
    registry: Registry,
    submission: Submission,
    client: PredictionClient,
    store: LocalMediaStore,
) -> None:
    """The sample script stored in the studio's workspace and generated: its clips recorded,
    its soundtrack made on the sandbox; in review with nothing decided (a draft: no compile)."""
    with db.connect() as conn:
        actor = Actor(default_workspace_id(conn), "mia@example.com", Role.WRITER)
    add_script(db, yaml.safe_load(SAMPLE_SCRIPT.read_text()), registry, actor=actor, source="t")
    with db.connect() as conn:
        for section in ("hook", "offer", "close"):
            record_clip(conn, section)
    assert _generate_soundtrack(db, submission, client, store, 1, "runs")
    assert _status(db) == "review" and _compilations(db) == [], "a draft asks for no compile"


def _edit_soundtrack(client: TestClient) -> None:
    """The soundtrack's prompt changed in the editor, confirmed and saved, as a browser does."""
    fields = _edit_fields(client, SCRIPT)
    assert fields["soundtrack-model"] == "musicgen"
    fields["soundtrack-prompt"] = NEW_PROMPT
    confirm = client.post(f"/studio/scripts/{SCRIPT}/edit", data={**fields, "op": "submit"})
    assert confirm.status_code == 200, confirm.text[:500]
    carried = re.search(r'name="document" value="([^"]*)"', confirm.text)
    assert carried is not None
    document = html.unescape(carried.group(1))
    assert json.loads(document)["soundtrack"]["prompt"] == NEW_PROMPT
    saved = client.post(
        f"/studio/scripts/{SCRIPT}/edit/confirm",
        data={"csrf": fields["csrf"], "base": fields["base"], "document": document, "op": "save"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:500]


@pytest.mark.parametrize("path", ["runs", "webhook"])
def test_a_soundtrack_edit_of_an_approved_script_compiles_it_with_the_new_take(
    path: str,
    client: TestClient,
    db: Database,
    registry: Registry,
    submission: Submission,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    _generated(db, registry, submission, prediction_client, media_store)
    _approve(db)
    [first] = _compilations(db)
    assert (first.status, first.requested_by) == ("requested", "approval")
    _compiled(db, first)

    _edit_soundtrack(client)
    with db.connect() as conn:
        assert soundtrack_take(conn, SCRIPT) == 2
    assert _status(db) == "queued"
    assert [c.id for c in _compilations(db)] == [first.id], "nothing to compile before the take"

    assert _generate_soundtrack(db, submission, prediction_client, media_store, 2, path)
    compilations = _compilations(db)
    assert [c.id for c in compilations][:1] == [first.id] and len(compilations) == 2
    second = compilations[1]
    assert (second.status, second.requested_by) == ("requested", "approval")
    with db.connect() as conn:
        soundtracks = take_rows.takes_of(conn, SCRIPT, "soundtrack")
    # What the compile mixes (the newest stored soundtrack) is the edit's take.
    assert [t.take for t in soundtracks] == [1, 2]
    assert soundtracks[-1].job_id == _soundtrack_job(db, 2).id
    assert _soundtrack_job(db, 2).input["prompt"] == NEW_PROMPT
    assert media_store.exists(soundtracks[-1].media_key)

    # Collected again (the other path, a re-executed run): the script is in review already.
    again = Collection(db, media_store, JobStatusLayers(db)).collect(SCRIPT, "soundtrack")
    assert not again.in_review
    assert [c.id for c in _compilations(db)] == [first.id, second.id], "asked once"


def test_a_soundtrack_edit_with_a_section_waiting_asks_for_no_compile(
    client: TestClient,
    db: Database,
    registry: Registry,
    submission: Submission,
    prediction_client: PredictionClient,
    media_store: LocalMediaStore,
) -> None:
    _generated(db, registry, submission, prediction_client, media_store)
    _approve(db, but="close")
    assert _compilations(db) == []
    _edit_soundtrack(client)
    assert _generate_soundtrack(db, submission, prediction_client, media_store, 2, "runs")
    assert _status(db) == "review" and _compilations(db) == []
    with db.connect() as conn:
        assert [t.take for t in take_rows.takes_of(conn, SCRIPT, "soundtrack")] == [1, 2]
