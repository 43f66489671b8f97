from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp, StartApi, add_clip
from tests.fixtures.media import ClipFactory
from tests.fixtures.scripts import SAMPLE_SCRIPT
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.takes import record_take
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, load_script
from vsl_pipelines.generation.stages import check_budget
from vsl_pipelines.settings import Settings
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.storage.s3 import S3MediaStore
from vsl_pipelines.web.review.forms import FORM_TYPE
from vsl_pipelines.web.server import (
    RunningService,
    build_app_from_settings,
    start_service_in_thread,
)

API_KEY = "vsl-test-key-7f3a9c1e"
SAMPLE_TEXT = SAMPLE_SCRIPT.read_bytes()
SAMPLE_DOCUMENT: dict[str, Any] = yaml.safe_load(SAMPLE_TEXT)


def row_counts(db: Database) -> dict[str, int]:
    with db.connect() as conn:
        return {
            table: conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]
            for table in ("scripts", "sections", "approvals")
        }


def add_compilation(db: Database, store: Any, script_id: str, video: Path) -> str:
    with db.connect() as conn:
        compilation_id = compilation_rows.start_compilation(conn, script_id, "mp4").id
    key = f"scripts/{script_id}/final/{script_id}-c{compilation_id}{video.suffix}"
    uri = store.put_file(key, video)
    with db.connect() as conn:
        compilation_rows.finish_compilation(
            conn,
            compilation_id,
            output_key=key,
            output_uri=uri,
            duration_s=1.0,
            size_bytes=video.stat().st_size,
            clip_count=3,
            cost_usd=0.1,
            plan={},
        )
    return key


# -- submitting scripts ---------------------------------------------------------------------


def test_submit_json_then_resubmit_is_409(
    api_service: RunningService, db: Database, sample_script: Script, registry: Registry
) -> None:
    response = httpx.post(f"{api_service.url}/api/scripts", json=SAMPLE_DOCUMENT, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "script_id": "spring-launch",
        "sections": 3,
        "estimated_cost_usd": check_budget(sample_script, registry),
    }
    again = httpx.post(f"{api_service.url}/api/scripts", json=SAMPLE_DOCUMENT, timeout=10)
    assert again.status_code == 409
    assert "spring-launch" in again.json()["detail"]
    assert row_counts(db) == {"scripts": 1, "sections": 3, "approvals": 0}


@pytest.mark.parametrize("content_type", ["application/yaml", "text/yaml; charset=utf-8"])
def test_submit_yaml(api_service: RunningService, db: Database, content_type: str) -> None:
    response = httpx.post(
        f"{api_service.url}/api/scripts",
        content=SAMPLE_TEXT,
        headers={"content-type": content_type},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.json()["script_id"] == "spring-launch"
    with db.connect() as conn:
        row = conn.execute("SELECT document FROM scripts").fetchone()
    assert row["document"]["sections"][1]["still"] == {"duration_s": 3.0, "zoom": True}


def _changed(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(SAMPLE_DOCUMENT)
    change(document)
    return document


INVALID_SCRIPTS = {
    "unknown model": (
        _changed(lambda d: d["sections"][0]["keyframe"].update(model="no-such-model")),
        "sections[0] (hook).keyframe",
    ),
    "bad field": (
        _changed(lambda d: d["sections"][1]["still"].update(duration_s=-1)),
        "sections.1.still.duration_s",
    ),
    "unknown field": (_changed(lambda d: d.update(colour="red")), "colour"),
    "over budget": (_changed(lambda d: d.update(budget_usd=0.01)), "budget_usd"),
    "unknown aspect": (
        _changed(lambda d: d.update(output={"renditions": ["16:9", "4:3"]})),
        "output.renditions.1: Value error, unknown aspect '4:3'",
    ),
    "bad delivery": (
        _changed(lambda d: d.update(output={"delivery": {"captions": ["vtt", "vtt"]}})),
        "output.delivery.captions: Value error, 'vtt' listed more than once",
    ),
    "not a mapping": (["spring-launch"], "a script must be a YAML mapping"),
}


@pytest.mark.parametrize("case", INVALID_SCRIPTS, ids=list(INVALID_SCRIPTS))
def test_invalid_script_is_422_naming_the_field_and_stores_nothing(
    api_service: RunningService, db: Database, case: str
) -> None:
    document, field = INVALID_SCRIPTS[case]
    response = httpx.post(f"{api_service.url}/api/scripts", json=document, timeout=10)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("request body: ") and field in detail, detail
    assert row_counts(db) == {"scripts": 0, "sections": 0, "approvals": 0}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "words"),
    [
        (b'{"id": "x",', "application/json", 422, "invalid JSON"),
        (b"id: [unclosed\n", "application/yaml", 422, "invalid YAML at line"),
        (SAMPLE_TEXT, "text/plain", 415, "application/yaml"),
    ],
    ids=["json", "yaml", "content-type"],
)
def test_unreadable_body_is_refused(
    api_service: RunningService,
    db: Database,
    content: bytes,
    content_type: str,
    status: int,
    words: str,
) -> None:
    response = httpx.post(
        f"{api_service.url}/api/scripts",
        content=content,
        headers={"content-type": content_type},
        timeout=10,
    )
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert row_counts(db)["scripts"] == 0


# -- reading --------------------------------------------------------------------------------


def test_list_show_and_unknown_script(api_service: RunningService, stored_script: Script) -> None:
    listed = httpx.get(f"{api_service.url}/api/scripts", timeout=10)
    assert listed.status_code == 200
    [row] = listed.json()
    assert row["script_id"] == "spring-launch"
    assert row["status"] == "queued" and row["budget_usd"] == 1.5

    shown = httpx.get(f"{api_service.url}/api/scripts/spring-launch", timeout=10).json()
    assert shown["script_id"] == "spring-launch" and shown["compilation"] is None
    assert [s["section"] for s in shown["sections"]] == ["hook", "offer", "close"]
    assert all(s["current_take"] == 1 and s["decision"] is None for s in shown["sections"])

    for path in ("/api/scripts/nope", "/api/review?script=nope", "/api/scripts/nope/video"):
        missing = httpx.get(api_service.url + path, timeout=10)
        assert missing.status_code == 404, path
        assert "'nope'" in missing.json()["detail"]


# -- review ---------------------------------------------------------------------------------


def test_approve_and_reject_append_decisions(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    base = f"{api_service.url}/api/scripts/spring-launch/sections"
    assert httpx.get(f"{api_service.url}/api/review", timeout=10).json() == []

    early = httpx.post(f"{base}/hook/approve", json={}, timeout=10)
    assert early.status_code == 409 and "no clip" in early.json()["detail"]

    add_clip(db, "spring-launch", "hook")
    add_clip(db, "spring-launch", "close")
    queue = httpx.get(f"{api_service.url}/api/review?script=spring-launch", timeout=10).json()
    assert [(q["section"], q["take"]) for q in queue] == [("hook", 1), ("close", 1)]

    approved = httpx.post(f"{base}/hook/approve", json={"note": "good"}, timeout=10)
    assert approved.status_code == 201
    assert approved.json()["take"] == 1 and approved.json()["decision"] == "approved"

    rejected = httpx.post(
        f"{base}/close/reject", json={"note": "too dark", "prompt": "brighter", "seed": 7}
    )
    assert rejected.status_code == 201
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM approvals ORDER BY id").fetchall()
    assert [(r["id"], r["section_id"], r["decision"]) for r in rows] == [
        (approved.json()["approval_id"], "hook", "approved"),
        (rejected.json()["approval_id"], "close", "rejected"),
    ]
    assert (rows[0]["note"], rows[1]["prompt"], rows[1]["seed"]) == ("good", "brighter", 7)
    queue = httpx.get(f"{api_service.url}/api/review", timeout=10).json()
    assert queue == []


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("intro/approve", {}, 404, "no section 'intro'"),
        ("offer/reject", {}, 409, "no clip"),
        ("hook/reject", {"seed": 2**31}, 422, "seed"),
        ("hook/reject", {"seed": "lucky"}, 422, "seed"),
        ("hook/approve", {"prompt": "brighter"}, 422, "prompt"),
        ("hook/approve", {"verdict": "yes"}, 422, "verdict"),
    ],
)
def test_refused_decisions_write_nothing(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    path: str,
    body: dict[str, Any],
    status: int,
    words: str,
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = httpx.post(
        f"{api_service.url}/api/scripts/spring-launch/sections/{path}", json=body, timeout=10
    )
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert row_counts(db)["approvals"] == 0


def test_decision_on_unknown_script_is_404(api_service: RunningService) -> None:
    response = httpx.post(
        f"{api_service.url}/api/scripts/nope/sections/hook/approve", json={}, timeout=10
    )
    assert response.status_code == 404 and "'nope'" in response.json()["detail"]


def test_narration_decisions_by_subject(
    api_service: RunningService, db: Database, registry: Registry
) -> None:
    """`"subject": "narration"` decides a voiced section's narration take, a rejection with the
    corrected `text` and voice `params`; refusals name the field and store nothing."""
    narrated = SAMPLE_SCRIPT.with_name("spring-launch-narrated.yaml")
    with db.connect() as conn:
        insert_script(
            conn, load_script(narrated, registry), str(narrated), default_workspace_id(conn)
        )
        take_ids = {
            section: record_take(
                conn,
                script_id="spring-launch-narrated",
                section_id=section,
                stage="narration",
                take=1,
                job_id=None,
                media_key=f"scripts/spring-launch-narrated/{section}/narration-v1.wav",
                thumbnail_key=None,
                probe={},
                duration_s=2.5,
            ).id
            for section in ("hook", "offer")
        }
    add_clip(db, "spring-launch-narrated", "hook")
    queue = httpx.get(f"{api_service.url}/api/review", timeout=10).json()
    assert [(q["section"], q["subject"], q["take"]) for q in queue] == [
        ("hook", "clip", 1),
        ("hook", "narration", 1),
        ("offer", "narration", 1),
    ]
    assert queue[1]["media"].endswith("hook/narration-v1.wav") and queue[1]["duration_s"] == 2.5

    base = f"{api_service.url}/api/scripts/spring-launch-narrated/sections"
    for path, body, status, words in (
        ("hook/reject", {"subject": "narration", "params": {"speed": 9}}, 422, "params.speed"),
        ("hook/reject", {"subject": "narration", "params": {"tone": 1}}, 422, "params.tone"),
        ("hook/reject", {"subject": "narration", "params": [1]}, 422, "params"),
        ("hook/reject", {"subject": "narration", "text": ""}, 422, "text"),
        ("hook/reject", {"subject": "narration", "seed": 3}, 422, "prompt and seed"),
        ("hook/reject", {"params": {"speed": 1.1}}, 422, "text and params belong"),
        ("hook/approve", {"subject": "narration", "text": "x"}, 422, "text"),
        ("hook/approve", {"subject": "voice"}, 422, "subject"),
        ("close/approve", {"subject": "narration"}, 409, "no narration for take 1"),
    ):
        response = httpx.post(f"{base}/{path}", json=body, timeout=10)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["detail"], response.json()
    assert row_counts(db)["approvals"] == 0

    rejected = httpx.post(
        f"{base}/hook/reject",
        json={"subject": "narration", "text": "Tired of cooking?", "params": {"speed": 1.2}},
        timeout=10,
    )
    assert rejected.status_code == 201, rejected.text
    assert (rejected.json()["subject"], rejected.json()["take"]) == ("narration", 1)
    again = httpx.post(f"{base}/hook/approve", json={"subject": "narration"}, timeout=10)
    assert again.status_code == 409 and "already rejected" in again.json()["detail"]
    clip = httpx.post(f"{base}/hook/approve", json={}, timeout=10)
    assert clip.status_code == 201 and clip.json()["subject"] == "clip"
    by_id = httpx.post(
        f"{api_service.url}/api/section-videos/{take_ids['offer']}/approve", json={}, timeout=10
    )
    assert by_id.status_code == 201, by_id.text
    assert (by_id.json()["section"], by_id.json()["subject"]) == ("offer", "narration")
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM approvals ORDER BY id").fetchall()
    assert [(r["section_id"], r["subject"], r["decision"]) for r in rows] == [
        ("hook", "narration", "rejected"),
        ("hook", "clip", "approved"),
        ("offer", "narration", "approved"),
    ]
    assert (rows[0]["text"], rows[0]["params"]) == ("Tired of cooking?", {"speed": 1.2})

    shown = httpx.get(f"{api_service.url}/api/scripts/spring-launch-narrated", timeout=10).json()
    assert [
        (s["section"], s["narration_take"], s["narration_decision"]) for s in shown["sections"]
    ] == [("hook", 1, "rejected"), ("offer", 1, "approved"), ("close", 1, None)]


def test_a_section_without_a_voice_has_no_narration_decision(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = httpx.post(
        f"{api_service.url}/api/scripts/spring-launch/sections/hook/approve",
        json={"subject": "narration"},
        timeout=10,
    )
    assert response.status_code == 422 and "has no voice" in response.json()["detail"]
    assert row_counts(db)["approvals"] == 0


# -- download -------------------------------------------------------------------------------


def test_video_streams_the_latest_compilation(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    api_media_store: LocalMediaStore,
    make_clip: ClipFactory,
) -> None:
    url = f"{api_service.url}/api/scripts/spring-launch/video"
    missing = httpx.get(url, timeout=10)
    assert missing.status_code == 404 and "not compiled yet" in missing.json()["detail"]

    add_compilation(db, api_media_store, "spring-launch", make_clip(tone=330))
    video = make_clip(tone=550)
    add_compilation(db, api_media_store, "spring-launch", video)
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == video.read_bytes()
    assert response.headers["content-type"] == "video/mp4"
    assert 'filename="spring-launch.mp4"' in response.headers["content-disposition"]

    with db.connect() as conn:
        compilation_rows.start_compilation(conn, "spring-launch", "mp4")  # a recompile in progress
    during = httpx.get(url, timeout=10)
    assert during.status_code == 200, "the last published video stays downloadable"
    assert during.content == video.read_bytes()


def test_video_on_s3_redirects_to_a_presigned_url(
    start_api: StartApi,
    db: Database,
    stored_script: Script,
    s3_bucket: tuple[Any, str],
    tmp_path: Path,
    make_clip: ClipFactory,
) -> None:
    client, bucket = s3_bucket
    store = S3MediaStore(bucket, client=client, cache_dir=tmp_path / "cache")
    service = start_api(media_store=store)
    video = make_clip()
    add_compilation(db, store, "spring-launch", video)
    response = httpx.get(f"{service.url}/api/scripts/spring-launch/video", timeout=10)
    assert response.status_code == 307
    assert response.headers["location"].startswith(client.meta.endpoint_url)
    downloaded = httpx.get(response.headers["location"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == video.read_bytes()


# -- access ---------------------------------------------------------------------------------


def test_api_key_is_required_when_set(start_api: StartApi, stored_script: Script) -> None:
    service = start_api(api_key=API_KEY)
    url = f"{service.url}/api/scripts"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEY}"}):
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert API_KEY not in refused.text
        assert refused.headers["www-authenticate"] == "Bearer"
    refused_post = httpx.post(url, json=SAMPLE_DOCUMENT, timeout=10)
    assert refused_post.status_code == 401
    allowed = httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert allowed.status_code == 200 and allowed.json()[0]["script_id"] == "spring-launch"
    assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200


def test_without_a_key_only_loopback_clients_are_served(
    start_api: StartApi, build_api_app: BuildApiApp
) -> None:
    local = start_api(host="127.0.0.1")
    assert httpx.get(f"{local.url}/api/scripts", timeout=10).json() == []

    # A client from elsewhere, simulated in process (no traffic leaves loopback in tests).
    with TestClient(
        build_api_app(), base_url=LOCAL_BASE_URL, client=("198.51.100.7", 50000)
    ) as remote:
        refused = remote.get("/api/scripts")
        assert refused.status_code == 403 and "VSL_API_KEY" in refused.json()["detail"]
        assert remote.get("/healthz").status_code == 200


def test_app_from_settings_serves_the_api_with_the_configured_key(
    db: Database, tmp_path: Path
) -> None:
    settings = Settings(
        DATABASE_URL=db.url,
        REPLICATE_WEBHOOK_SECRET="whsec_" + "A" * 43 + "=",
        VSL_MEDIA_ROOT=tmp_path,
        VSL_API_KEY=API_KEY,
    )
    service = start_service_in_thread(build_app_from_settings(settings))
    try:
        url = f"{service.url}/api/scripts"
        assert httpx.get(url, timeout=10).status_code == 401
        headers = {"Authorization": f"Bearer {API_KEY}"}
        created = httpx.post(
            url, content=SAMPLE_TEXT, headers={**headers, "content-type": "application/yaml"}
        )
        assert created.status_code == 201
        assert httpx.get(url, headers=headers, timeout=10).json()[0]["script_id"] == "spring-launch"
    finally:
        service.stop()
    assert API_KEY not in repr(settings)


# -- cross-site requests (issue 8, item 2) ----------------------------------------------------

DECISION = "/api/scripts/spring-launch/sections/hook/reject"


def test_writes_without_a_json_or_yaml_content_type_are_415(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    """What `fetch(url, {method: "POST", mode: "no-cors", body})` from any page sends: no
    Content-Type (or a form's, or text/plain); it used to be read as JSON."""
    add_clip(db, "spring-launch", "hook")
    other = {**SAMPLE_DOCUMENT, "id": "from-elsewhere"}
    body = json.dumps(other).encode()
    for headers in ({}, {"content-type": "text/plain"}, {"content-type": FORM_TYPE}):
        submitted = httpx.post(
            f"{api_service.url}/api/scripts", content=body, headers=headers, timeout=10
        )
        assert submitted.status_code == 415, (headers, submitted.text)
        assert "application/json" in submitted.json()["detail"]
        decided = httpx.post(
            api_service.url + DECISION,
            content=b'{"prompt": "a competitor logo"}',
            headers=headers,
            timeout=10,
        )
        assert decided.status_code == 415, (headers, decided.text)
    assert row_counts(db) == {"scripts": 1, "sections": 3, "approvals": 0}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:3000"},  # another port of the same machine
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["other-host", "other-port", "opaque", "cross-site", "same-site"],
)
def test_writes_from_another_site_are_403(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    headers: dict[str, str],
) -> None:
    add_clip(db, "spring-launch", "hook")
    submitted = httpx.post(
        f"{api_service.url}/api/scripts",
        json={**SAMPLE_DOCUMENT, "id": "from-elsewhere"},
        headers=headers,
        timeout=10,
    )
    assert submitted.status_code == 403, submitted.text
    assert "from another site" in submitted.json()["detail"]
    rejected = httpx.post(
        api_service.url + DECISION, json={"prompt": "theirs"}, headers=headers, timeout=10
    )
    assert rejected.status_code == 403
    assert row_counts(db) == {"scripts": 1, "sections": 3, "approvals": 0}
    assert httpx.get(f"{api_service.url}/api/scripts", headers=headers).status_code == 200


def test_same_origin_writes_are_served(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    headers = {"Origin": api_service.url, "Sec-Fetch-Site": "same-origin"}
    rejected = httpx.post(
        api_service.url + DECISION, json={"note": "n"}, headers=headers, timeout=10
    )
    assert rejected.status_code == 201, rejected.text


@pytest.mark.parametrize("path", ["/api/scripts", "/api/review", "/review"])
def test_unknown_host_names_are_refused_without_a_key_too(
    api_service: RunningService, stored_script: Script, path: str
) -> None:
    """DNS rebinding: a page at http://evil.example:PORT whose name now resolves to 127.0.0.1
    reads and writes as a loopback client, its `Host` naming its own domain."""
    port = api_service.url.rsplit(":", 1)[1]
    for host in (f"evil.example:{port}", "evil.example", "127.0.0.1.nip.io"):
        refused = httpx.get(api_service.url + path, headers={"Host": host}, timeout=10)
        assert refused.status_code == 421, (host, refused.text)
        assert "VSL_ALLOWED_HOSTS" in refused.text
    for host in ("", "a b", "[::1", "x:port"):
        malformed = httpx.get(api_service.url + path, headers={"Host": host}, timeout=10)
        assert malformed.status_code == 400, (host, malformed.text)
    posted = httpx.post(
        f"{api_service.url}/api/scripts",
        json={**SAMPLE_DOCUMENT, "id": "rebound"},
        headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
        timeout=10,
    )
    assert posted.status_code == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST.", f"[::1]:{port}"):
        served = httpx.get(api_service.url + path, headers={"Host": host}, timeout=10)
        assert served.status_code == 200, (host, served.text)


def test_allowed_hosts_come_from_settings(db: Database, tmp_path: Path) -> None:
    settings = Settings(
        DATABASE_URL=db.url,
        REPLICATE_WEBHOOK_SECRET="whsec_" + "A" * 43 + "=",
        VSL_MEDIA_ROOT=tmp_path,
        VSL_ALLOWED_HOSTS="vsl.example.com, Review.Example.com",
    )
    service = start_service_in_thread(build_app_from_settings(settings))
    try:
        url = f"{service.url}/api/scripts"
        for host in ("vsl.example.com", "review.example.com:443", "127.0.0.1"):
            assert httpx.get(url, headers={"Host": host}, timeout=10).status_code == 200, host
        assert httpx.get(url, headers={"Host": "evil.example"}, timeout=10).status_code == 421
    finally:
        service.stop()


# -- bad input is a 4xx naming the field (issue 8, item 3) ------------------------------------


def post_script(service: RunningService, body: bytes, media_type: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/api/scripts", content=body, headers={"content-type": media_type}, timeout=30
    )


@pytest.mark.parametrize(
    ("body", "media_type", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested deeper than 64"),
        (b'{"id": ' * 100_000 + b"1" + b"}" * 100_000, "application/json", "nested deeper"),
        (b"[" * 70 + b"]" * 70, "application/json", "nested deeper than 64"),
        (b"[" * 100_000, "application/yaml", "invalid YAML"),
        (b"- " * 100_000 + b"x", "application/yaml", "nested deeper than 64"),
        (b"{a: " * 100_000, "application/yaml", "nested deeper than 64"),
    ],
    ids=["json-arrays", "json-objects", "json-70", "yaml-flow", "yaml-block", "yaml-mappings"],
)
def test_deep_documents_are_422(
    api_service: RunningService, db: Database, body: bytes, media_type: str, words: str
) -> None:
    response = post_script(api_service, body, media_type)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"].startswith("request body: ")
    assert words in response.json()["detail"]
    deep_note = b'{"note": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"  # under the 16 KiB limit
    decided = httpx.post(
        f"{api_service.url}/api/scripts/spring-launch/sections/hook/approve",
        content=deep_note,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert decided.status_code == 422 and "nested deeper" in decided.json()["detail"]
    assert row_counts(db)["scripts"] == 0


def _yaml_with(change: Any) -> bytes:
    return yaml.safe_dump(_changed(change)).encode()


@pytest.mark.parametrize(
    ("body", "media_type", "words"),
    [
        (
            json.dumps(_changed(lambda d: d.update(budget_usd=1e308))).encode(),
            "application/json",
            "budget_usd: number beyond ±1e+15",
        ),
        (
            json.dumps(_changed(lambda d: d.update(budget_usd=float("inf")))).encode(),
            "application/json",
            "invalid JSON (Infinity is not a number JSON allows)",
        ),
        (
            json.dumps(_changed(lambda d: d.update(budget_usd=float("nan")))).encode(),
            "application/json",
            "invalid JSON (NaN is not a number JSON allows)",
        ),
        (
            SAMPLE_TEXT.replace(b"budget_usd: 1.50", b"budget_usd: 1.0e+999"),
            "application/yaml",
            "budget_usd: must be a finite number",
        ),
        (
            SAMPLE_TEXT.replace(b"budget_usd: 1.50", b"budget_usd: .inf"),
            "application/yaml",
            "budget_usd: must be a finite number",
        ),
        (
            json.dumps(_changed(lambda d: d.update(budget_usd=1.5)))
            .encode()
            .replace(b"1.5", b"1e400"),
            "application/json",
            "invalid JSON (1e400 is out of range (too large a number))",
        ),
        (
            _yaml_with(lambda d: d["soundtrack"]["params"].update(duration=float("inf"))),
            "application/yaml",
            "soundtrack.params.duration: must be a finite number",
        ),
        (
            _yaml_with(lambda d: d["sections"][0]["keyframe"]["params"].update(seed=10**30)),
            "application/yaml",
            "sections.0.keyframe.params.seed: number beyond",
        ),
    ],
    ids=["1e308", "Infinity", "NaN", "yaml-1e999", "yaml-.inf", "json-1e400", "param-inf", "huge"],
)
def test_numbers_must_be_finite_and_bounded(
    api_service: RunningService, db: Database, body: bytes, media_type: str, words: str
) -> None:
    response = post_script(api_service, body, media_type)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"], response.json()["detail"]
    assert row_counts(db)["scripts"] == 0


CONTROL_CHARACTERS = {
    "title-nul": (
        lambda d: d.update(title="Spring\x00Launch"),
        "title: contains the control character U+0000",
    ),
    "title-newline": (lambda d: d.update(title="Spring\nLaunch"), "title: Value error, contains"),
    "narration-nul": (
        lambda d: d["sections"][0].update(narration="Tired?\x00"),
        "sections.0.narration: contains the control character U+0000",
    ),
    "prompt-escape": (
        lambda d: d["sections"][0]["keyframe"].update(prompt="a\x1b[31m red"),
        "sections.0.keyframe.prompt: contains the control character U+001B",
    ),
    "section-id-nul": (
        lambda d: d["sections"][0].update(id="hook\x00"),
        "sections.0.id: contains the control character U+0000",
    ),
    "id-newline": (lambda d: d.update(id="spring-launch\n"), "id: Value error, must be lowercase"),
    "section-id-newline": (
        lambda d: d["sections"][2].update(id="close\n"),
        "sections.2.id: Value error, must be lowercase",
    ),
    "lone-surrogate": (
        lambda d: d.update(title="Spring \ud800"),
        "title: contains the control character U+D800",
    ),
}


@pytest.mark.parametrize("case", CONTROL_CHARACTERS, ids=list(CONTROL_CHARACTERS))
def test_control_characters_and_untrimmed_ids_are_422(
    api_service: RunningService, db: Database, case: str
) -> None:
    change, words = CONTROL_CHARACTERS[case]
    body = json.dumps(_changed(change)).encode()  # \u escapes: any code point travels
    response = post_script(api_service, body, "application/json")
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"], response.json()["detail"]
    assert row_counts(db)["scripts"] == 0


def test_decisions_refuse_control_characters_and_bad_numbers(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    base = f"{api_service.url}/api/scripts/spring-launch/sections/hook"
    for path, body, words in [
        ("reject", b'{"note": "too\\u0000dark"}', "note: contains the control character U+0000"),
        ("reject", b'{"prompt": "\\ud800"}', "prompt: contains the control character U+D800"),
        ("reject", b'{"seed": 1e308}', "seed"),
        ("reject", b'{"seed": 1e999}', "too large a number"),
        ("reject", b'{"seed": NaN}', "NaN"),
        ("reject", b'{"prompt": "' + b"x" * 5000 + b'"}', "prompt: String should have at most"),
        ("approve", b'{"note": "ok\\u0007"}', "note: contains the control character U+0007"),
    ]:
        response = httpx.post(
            f"{base}/{path}", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (body[:60], response.text)
        assert words in response.json()["detail"], response.json()["detail"]
    assert row_counts(db)["approvals"] == 0


@pytest.mark.parametrize(
    ("method", "path", "words"),
    [
        ("GET", "/api/scripts/spring%00launch", "path script_id: "),
        ("GET", "/api/scripts/spring-launch%0A", "path script_id: "),
        ("GET", "/api/scripts/" + "a" * 300, "path script_id: "),
        ("GET", "/api/scripts/spring%00launch/video", "path script_id: "),
        ("GET", "/api/review?script=spring%00launch", "query script: "),
        ("POST", "/api/scripts/spring%00launch/sections/hook/approve", "path script_id: "),
        ("POST", "/api/scripts/spring-launch/sections/ho%00ok/reject", "path section_id: "),
        ("POST", "/api/scripts/spring-launch/sections/hook%0A/approve", "path section_id: "),
    ],
)
def test_ids_in_paths_and_queries_are_matched_whole(
    api_service: RunningService, stored_script: Script, method: str, path: str, words: str
) -> None:
    response = httpx.request(method, api_service.url + path, json={}, timeout=10)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(words) and "lowercase letters" in detail


def test_a_large_yaml_body_is_parsed_off_the_event_loop(api_service: RunningService) -> None:
    """A YAML body just under the node bound takes seconds of CPU to build (about 2.5 s
    here); meanwhile the service keeps answering (it stalled every request for the whole
    parse)."""
    body = b"id: x\nitems:\n" + b"- [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" * 19_000
    posting: dict[str, Any] = {}

    def post() -> None:
        posting["response"] = post_script(api_service, body, "application/yaml")
        posting["done"] = time.monotonic()

    worker = threading.Thread(target=post)
    worker.start()
    time.sleep(0.3)  # the body is in; parsing has begun
    started = time.monotonic()
    probe = httpx.get(f"{api_service.url}/api/scripts/nope", timeout=30)
    answered = time.monotonic()
    worker.join(30)
    assert probe.status_code == 404
    # Threads share the GIL with the parse: a database-backed answer slows down (0.1-1 s here,
    # the test's client in the same process) but no longer waits for the whole parse (12 s).
    assert answered < posting["done"], "the probe was answered while the YAML was parsed"
    assert answered - started < 2.0, f"answered after {answered - started:.2f} s"
    assert posting["response"].status_code == 422
    assert posting["response"].json()["detail"] == "request body: more than 100000 values"


def test_a_yaml_body_of_too_many_values_is_refused_before_it_is_built(
    api_service: RunningService,
) -> None:
    """960 kB of one-character list items: 480,000 values took 5 s of CPU to build."""
    body = b"id: x\nparams: [" + b"1," * 480_000 + b"1]\n"
    started = time.monotonic()
    response = post_script(api_service, body, "application/yaml")
    assert response.status_code == 422
    assert response.json()["detail"] == "request body: more than 100000 values"
    assert time.monotonic() - started < 2.5
