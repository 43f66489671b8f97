"""The authorization matrix over every operation of the OpenAPI document: two workspaces,
`acme` and `globex`, with a key of each role in each.

- a role below an operation's needs gets 403 naming the role it needs;
- a role that may gets past the rule (whatever the operation then answers: 2xx, 409, ...);
- another workspace's object is 404 with the very words of an object that does not exist;
- lists (scripts, the review queue, costs and their dashboard, the audit log, the review page)
  hold nothing of the other workspace.
A new operation fails `test_every_operation_is_in_the_matrix` until it is added here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.api import StartApi, add_clip, review_form_auth
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import create_workspace
from vsl_pipelines.web.review import csrf
from vsl_pipelines.web.server import RunningService

BOOTSTRAP = "bootstrap-matrix-key"
WORKSPACES = ("acme", "globex")
MISSING = {"script": "no-such-script", "take": 999_998, "compilation": 999_999}
MISSING_JOB = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Objects:
    """One workspace's things, addressed as the API addresses them."""

    script: str
    take: int
    compilation: int
    job: str


@dataclass(frozen=True)
class World:
    service: RunningService
    objects: dict[str, Objects]
    keys: dict[tuple[str, Role], str]  # (workspace, role) -> key
    missing: Objects


def _seed(db: Database, media_root: Path, sample: Script, slug: str) -> Objects:
    script_id = f"{slug}-launch"
    with db.connect() as conn:
        workspace = create_workspace(conn, slug, slug.title(), None, "test")
        insert_script(conn, sample.model_copy(update={"id": script_id}), None, workspace.id)
    for section in ("hook", "offer", "close"):
        add_clip(db, script_id, section)
    video_key = f"scripts/{script_id}/final/{script_id}-c1.mp4"
    (media_root / video_key).parent.mkdir(parents=True, exist_ok=True)
    (media_root / video_key).write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with db.connect() as conn:
        take = take_rows.take_of(conn, script_id, "hook", "clip", 1)
        assert take is not None
        compilation = compilation_rows.request_compilation(
            conn,
            script_id,
            output_format="mp4",
            quality="standard",
            options={},
            requested_by="test",
        )
        assert compilation is not None
        conn.execute(
            "UPDATE compilations SET status = 'succeeded', output_key = %s, completed_at = now()"
            " WHERE id = %s",
            (video_key, compilation.id),
        )
        job = job_rows.reserve_adhoc_job(
            conn,
            workspace_id=workspace.id,
            user_id=f"{slug}-user",
            media_type="image",
            model_id="flux-schnell",
            model_input={"prompt": slug},
            estimated_cost_usd=0.003,
            pricing={"basis": "output", "usd": 0.003},
        )
        job_rows.attach_prediction(conn, job.id, {"id": f"p-{slug}", "status": "processing"})
    return Objects(script_id, take.id, compilation.id, str(job.public_id))


@pytest.fixture
def world(
    db: Database,
    start_api: StartApi,
    service_media_root: Path,
    sample_script: Script,
    prediction_client: PredictionClient,
) -> World:
    objects = {slug: _seed(db, service_media_root, sample_script, slug) for slug in WORKSPACES}
    keys = {
        (slug, role): create_key(db, f"{slug}-{role.value}", workspace=slug, role=role)[1]
        for slug in WORKSPACES
        for role in Role
    }
    service = start_api(api_key=BOOTSTRAP, predictions=prediction_client)
    missing = Objects(MISSING["script"], MISSING["take"], MISSING["compilation"], MISSING_JOB)
    return World(service, objects, keys, missing)


# The operations: the role each needs, and how to call it on a workspace's objects. -----------

Call = Callable[[httpx.Client, Objects], httpx.Response]
APPROVE = {"note": "fine"}
REJECT = {"note": "again", "prompt": "another take", "seed": 3}


def _script_document(objects: Objects, n: list[int] = [0]) -> dict[str, Any]:  # noqa: B006
    n[0] += 1
    return {
        "id": f"{objects.script}-new-{n[0]}",
        "title": "New",
        "sections": [{"id": "hook", "narration": "Hi.", "clip": {"prompt": "a cat"}}],
    }


def _review_post(decision: str) -> Call:
    def call(client: httpx.Client, objects: Objects) -> httpx.Response:
        page = str(client.base_url.join("/review"))
        auth = review_form_auth(client, page)
        form = {"csrf": auth.token, "note": "from the page"}
        if decision == "reject":
            form["prompt"] = "another"
        return client.post(
            f"/review/{objects.script}/hook/{decision}",
            data=form,
            cookies={csrf.COOKIE: auth.cookie},
            headers={"origin": str(client.base_url).rstrip("/")},
            follow_redirects=False,
        )

    return call


OPERATIONS: dict[tuple[str, str], tuple[Role, Call]] = {
    ("GET", "/api/scripts"): (Role.VIEWER, lambda c, o: c.get("/api/scripts")),
    ("POST", "/api/scripts"): (
        Role.WRITER,
        lambda c, o: c.post("/api/scripts", json=_script_document(o)),
    ),
    ("GET", "/api/scripts/{script_id}"): (
        Role.VIEWER,
        lambda c, o: c.get(f"/api/scripts/{o.script}"),
    ),
    ("GET", "/api/review"): (Role.VIEWER, lambda c, o: c.get("/api/review")),
    ("POST", "/api/scripts/{script_id}/sections/{section_id}/approve"): (
        Role.REVIEWER,
        lambda c, o: c.post(f"/api/scripts/{o.script}/sections/offer/approve", json=APPROVE),
    ),
    ("POST", "/api/scripts/{script_id}/sections/{section_id}/reject"): (
        Role.REVIEWER,
        lambda c, o: c.post(f"/api/scripts/{o.script}/sections/close/reject", json=REJECT),
    ),
    ("GET", "/api/scripts/{script_id}/video"): (
        Role.VIEWER,
        lambda c, o: c.get(f"/api/scripts/{o.script}/video"),
    ),
    ("GET", "/api/scripts/{script_id}/variants"): (
        Role.VIEWER,
        lambda c, o: c.get(f"/api/scripts/{o.script}/variants"),
    ),
    ("POST", "/api/scripts/{script_id}/compile"): (
        Role.REVIEWER,
        lambda c, o: c.post(f"/api/scripts/{o.script}/compile", json={"quality": "draft"}),
    ),
    ("GET", "/api/compilations/{compilation_id}"): (
        Role.VIEWER,
        lambda c, o: c.get(f"/api/compilations/{o.compilation}"),
    ),
    ("POST", "/api/section-videos/{video_id}/approve"): (
        Role.REVIEWER,
        lambda c, o: c.post(f"/api/section-videos/{o.take}/approve", json=APPROVE),
    ),
    ("POST", "/api/section-videos/{video_id}/reject"): (
        Role.REVIEWER,
        lambda c, o: c.post(f"/api/section-videos/{o.take}/reject", json=REJECT),
    ),
    ("GET", "/api/costs"): (Role.VIEWER, lambda c, o: c.get("/api/costs?groupBy=user")),
    ("GET", "/api/costs/dashboard"): (Role.VIEWER, lambda c, o: c.get("/api/costs/dashboard")),
    ("GET", "/api/audit"): (Role.ADMIN, lambda c, o: c.get("/api/audit")),
    ("POST", "/api/generate-media"): (
        Role.WRITER,
        lambda c, o: c.post(
            "/api/generate-media",
            json={
                "userId": "matrix",
                "mediaType": "image",
                "modelId": "flux-schnell",
                "parameters": {"prompt": "a lamp"},
            },
        ),
    ),
    ("GET", "/api/status/{job_id}"): (Role.VIEWER, lambda c, o: c.get(f"/api/status/{o.job}")),
    ("GET", "/review"): (Role.VIEWER, lambda c, o: c.get("/review")),
    ("POST", "/review/{script_id}/{section_id}/approve"): (Role.REVIEWER, _review_post("approve")),
    ("POST", "/review/{script_id}/{section_id}/reject"): (Role.REVIEWER, _review_post("reject")),
}
# Operations on one object (the others list or create).
ON_AN_OBJECT = {op for op in OPERATIONS if "{" in op[1]}
# What each list must not show of the other workspace.
LISTS = {
    ("GET", "/api/scripts"),
    ("GET", "/api/review"),
    ("GET", "/api/costs"),
    ("GET", "/api/costs/dashboard"),
    ("GET", "/api/audit"),
    ("GET", "/review"),
}


def _client(world: World, slug: str, role: Role) -> httpx.Client:
    key = world.keys[(slug, role)]
    basic = base64.b64encode(f"reviewer:{key}".encode()).decode()
    return httpx.Client(
        base_url=world.service.url,
        headers={"x-api-key": key, "authorization": f"Basic {basic}"},
        timeout=20,
    )


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except (json.JSONDecodeError, AttributeError):
        return response.text


def test_every_operation_is_in_the_matrix(world: World) -> None:
    document = httpx.get(f"{world.service.url}/api/openapi.json", timeout=10).json()
    found = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert found == set(OPERATIONS) | {("GET", "/healthz"), ("GET", "/metrics")}


def test_metrics_are_the_operators_and_health_is_public(world: World) -> None:
    for slug in WORKSPACES:
        with _client(world, slug, Role.ADMIN) as client:
            refused = client.get("/metrics")
            assert refused.status_code == 403 and "operator" in _detail(refused)
            assert client.get("/healthz").status_code == 200
    scraped = httpx.get(
        f"{world.service.url}/metrics", headers={"x-api-key": BOOTSTRAP}, timeout=10
    )
    assert scraped.status_code == 200 and "vsl_jobs_started" in scraped.text
    assert httpx.get(f"{world.service.url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("operation", sorted(OPERATIONS), ids=lambda op: f"{op[0]} {op[1]}")
def test_each_role_below_the_operation_is_403_and_the_others_pass(
    world: World, operation: tuple[str, str]
) -> None:
    needed, call = OPERATIONS[operation]
    own = world.objects["acme"]
    for role in Role:
        with _client(world, "acme", role) as client:
            response = call(client, own)
        if role.allows(needed):
            assert response.status_code not in (401, 403), (role, response.text[:300])
            if response.status_code == 404:  # e.g. a take no longer current: never "unknown"
                assert _detail(response) != _detail(_missing(world, call)), response.text
        else:
            assert response.status_code == 403, (role, response.text[:300])
            assert f"needs the {needed.value} role" in _detail(response)


def _missing(world: World, call: Call) -> httpx.Response:
    with _client(world, "acme", Role.ADMIN) as client:
        return call(client, world.missing)


@pytest.mark.parametrize("operation", sorted(ON_AN_OBJECT), ids=lambda op: f"{op[0]} {op[1]}")
def test_another_workspaces_object_is_404_like_one_that_does_not_exist(
    world: World, operation: tuple[str, str]
) -> None:
    _, call = OPERATIONS[operation]
    unknown = _missing(world, call)
    assert unknown.status_code == 404, unknown.text[:300]
    for role in Role:
        if not role.allows(OPERATIONS[operation][0]):
            continue
        with _client(world, "acme", role) as client:
            theirs = call(client, world.objects["globex"])
        assert theirs.status_code == 404, (role, theirs.text[:300])
        assert _unnamed(_detail(theirs), world.objects["globex"]) == _unnamed(
            _detail(unknown), world.missing
        ), "the answer must not tell it exists"


def _unnamed(text: str, objects: Objects) -> str:
    """`text` with the objects' ids (whole words) replaced by placeholders."""
    for field in ("job", "script", "compilation", "take"):
        text = re.sub(rf"\b{re.escape(str(getattr(objects, field)))}\b", f"<{field}>", text)
    return text


@pytest.mark.parametrize("operation", sorted(LISTS), ids=lambda op: f"{op[0]} {op[1]}")
def test_lists_hold_nothing_of_the_other_workspace(
    world: World, operation: tuple[str, str]
) -> None:
    # Something of globex in each list first: a decision (audit) and its own listings.
    with _client(world, "globex", Role.ADMIN) as client:
        client.post(f"/api/scripts/{world.objects['globex'].script}/sections/hook/approve", json={})
    _, call = OPERATIONS[operation]
    with _client(world, "acme", Role.ADMIN) as client:
        seen = call(client, world.objects["acme"])
    assert seen.status_code == 200, seen.text[:300]
    assert "globex" not in seen.text
    with _client(world, "globex", Role.ADMIN) as client:
        theirs = call(client, world.objects["globex"])
    assert "globex" in theirs.text, "the same list shows globex its own things"
