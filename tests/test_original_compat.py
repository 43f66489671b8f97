"""A client of the original system switches by changing its base URL: every request example of
its documentation (tests/reference/original-system.md) replayed against the service as written,
and every response field it documents checked: its models.json, generate-media and its answer,
the status of the finished job, the section-video approvals, and the compile answered in its
own shape (`Prefer: wait`)."""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from click.testing import CliRunner

from tests.fixtures.adhoc import AdhocService, wait_for_webhooks
from tests.fixtures.media import ClipFactory
from tests.fixtures.scripts import record_clip
from vsl_pipelines.cli import main
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.compilation import Compiler
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.settings import get_settings
from vsl_pipelines.storage.local import LocalMediaStore

DOCUMENT = (Path(__file__).parent / "reference" / "original-system.md").read_text()
BLOCKS = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOCUMENT, re.DOTALL)]


def _example(*keys: str) -> dict[str, Any]:
    """The documentation's JSON example holding every one of `keys` at its top."""
    [found] = [b for b in BLOCKS if isinstance(b, dict) and set(keys) <= set(b)]
    return found


def _fields(example: Any, prefix: str = "") -> set[str]:
    """Every documented field of an example, nested ones as `a.b`."""
    if not isinstance(example, dict):
        return set()
    names = set()
    for key, value in example.items():
        names.add(prefix + key)
        names |= _fields(value, f"{prefix}{key}.")
    return names


def test_its_models_json_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    example = _example("image")
    monkeypatch.setenv("MODELS_CONFIG", json.dumps(example))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["models", "list", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    [model] = [m for m in json.loads(result.stdout) if m["id"] == "your-model"]
    assert (model["kind"], model["task"], model["basis"], model["usd"]) == (
        "image",
        "text-to-image",
        "output",
        0.01,
    )


@pytest.fixture
def key(db: Database) -> str:
    """An API key as the original's clients have one (`X-API-Key`), a reviewer's acting for
    its documented user."""
    _, secret = create_key(db, "original-client", role=Role.REVIEWER, user_id="user123")
    return secret


def test_generate_media_and_its_status_as_documented(adhoc: AdhocService, key: str) -> None:
    request = _example("userId", "mediaType", "modelId", "parameters")
    answer = httpx.post(
        f"{adhoc.url}/api/generate-media",
        json=request,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    documented = _example("jobId", "status", "estimatedTime", "estimatedCost")
    body = answer.json()
    assert _fields(documented) <= _fields(body)
    assert str(uuid.UUID(body["jobId"])) == body["jobId"] and body["status"] == "pending"
    assert body["estimatedCost"] == documented["estimatedCost"]  # flux-schnell, one image

    wait_for_webhooks(adhoc.inbox, 1)
    today = datetime.now(UTC).date().isoformat()
    with dg.instance_for_test() as instance:
        adhoc.tick(instance)
        adhoc.collect(instance, today)
    status = httpx.get(f"{adhoc.url}/api/status/{body['jobId']}", headers={"X-API-Key": key})
    assert status.status_code == 200, status.text
    finished = _example("jobId", "status", "result")
    shown = status.json()
    assert _fields(finished) <= _fields(shown), _fields(finished) - _fields(shown)
    assert (shown["jobId"], shown["status"]) == (body["jobId"], finished["status"])
    picture = httpx.get(shown["result"]["originalUrl"])
    assert picture.status_code == 200 and len(picture.content) == shown["result"]["fileSize"]
    assert httpx.get(shown["result"]["thumbnailUrl"]).status_code == 200


def test_approve_section_videos_then_compile_as_documented(
    adhoc: AdhocService,
    key: str,
    db: Database,
    stored_script: Script,
    make_clip: ClipFactory,
) -> None:
    """Its steps 2 and 3: approve each section video, then compile with its body; the answer
    waits for the video (`Prefer: wait`) and has the documented shape."""
    with db.connect() as conn:
        for section in ("hook", "offer", "close"):
            record_clip(conn, section)
        conn.execute("UPDATE takes SET duration_s = 1.0 WHERE script_id = %s", (stored_script.id,))
        takes = conn.execute(
            "SELECT id, media_key FROM takes WHERE script_id = %s ORDER BY id", (stored_script.id,)
        ).fetchall()
    for take in takes:
        media = adhoc.media_root / take["media_key"]
        media.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(make_clip(seconds=1.0), media)
        approved = httpx.post(
            f"{adhoc.url}/api/section-videos/{take['id']}/approve",
            json={},
            headers={"X-API-Key": key},
        )
        assert approved.status_code == 201, approved.text

    body = json.loads(re.search(r"compile` with `(\{.*?\})`", DOCUMENT).group(1))  # type: ignore[union-attr]
    assert body == {"outputFormat": "mp4", "quality": "high"}
    store = LocalMediaStore(adhoc.media_root, f"{adhoc.url}/media")
    compiler = threading.Thread(target=_compile_when_asked, args=(db, store, stored_script.id))
    compiler.start()
    answer = httpx.post(
        f"{adhoc.url}/api/scripts/{stored_script.id}/compile",
        json=body,
        headers={"X-API-Key": key, "Prefer": "wait=120"},
        timeout=180,
    )
    compiler.join()
    assert answer.status_code == 200, answer.text
    documented = _example("success", "data")
    shown = answer.json()
    assert _fields(documented) <= _fields(shown), _fields(documented) - _fields(shown)
    data = shown["data"]
    assert shown["success"] is True and data["videoCount"] == 3
    video = httpx.get(data["compiledVideoUrl"])
    assert video.status_code == 200 and len(video.content) == data["fileSize"]
    assert isinstance(data["duration"], int) and data["duration"] > 0  # milliseconds


def _compile_when_asked(db: Database, store: LocalMediaStore, script_id: str) -> None:
    """The compile run (as the `compiled_video` asset does), once the request is recorded."""
    deadline = datetime.now(UTC).timestamp() + 60
    while datetime.now(UTC).timestamp() < deadline:
        with db.connect() as conn:
            row = conn.execute(
                "SELECT id FROM compilations WHERE script_id = %s AND status = 'requested'",
                (script_id,),
            ).fetchone()
        if row is not None:
            with db.connect() as conn:
                compilation_rows.claim_compilation(conn, row["id"], script_id)
            Compiler(db, store).compile(script_id, row["id"])
            return
        threading.Event().wait(0.1)
