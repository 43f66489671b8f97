"""`/api/scripts/{id}/compile`, `/api/compilations/{id}` and the original API's
`/api/section-videos/{videoId}/approve|reject`, over real HTTP against the service."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.api import StartApi, add_clip
from tests.fixtures.media import ClipFactory
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.storage.s3 import S3MediaStore
from vsl_pipelines.web.server import RunningService

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


@pytest.fixture
def api(start_api: StartApi, stored_script: Script) -> RunningService:
    return start_api()


def _approve_all(service: RunningService, db: Database) -> None:
    for section in SECTIONS:
        add_clip(db, SCRIPT, section)
        url = f"{service.url}/api/scripts/{SCRIPT}/sections/{section}/approve"
        assert httpx.post(url, json={}, timeout=10).status_code == 201


def _compilations(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return conn.execute("SELECT * FROM compilations ORDER BY id").fetchall()


def _take_id(db: Database, section: str, take: int = 1) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT id FROM takes WHERE script_id = %s AND section_id = %s AND take = %s",
            (SCRIPT, section, take),
        ).fetchone()
    assert row is not None
    return int(row["id"])


# -- compile on request -------------------------------------------------------------------


def test_a_compile_request_is_recorded_and_followed(api: RunningService, db: Database) -> None:
    _approve_all(api, db)
    answer = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile",
        json={"outputFormat": "avi", "quality": "high", "size": "720p", "fps": 25},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["status"] == "requested" and accepted["scriptId"] == SCRIPT
    assert (accepted["outputFormat"], accepted["quality"]) == ("avi", "high")
    assert accepted["options"] == {"size": "720p", "fps": "25"}
    assert accepted["compiledVideoUrl"] is None

    shown = httpx.get(f"{api.url}/api/compilations/{accepted['compilationId']}", timeout=10)
    assert shown.status_code == 200 and shown.json() == accepted
    [row] = _compilations(db)
    assert (row["status"], row["requested_by"], row["output_format"]) == (
        "requested",
        "local operator",
        "avi",
    )


def test_defaults_are_the_scripts_own_output(api: RunningService, db: Database) -> None:
    _approve_all(api, db)
    answer = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json={}, timeout=10)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["outputFormat"], body["quality"], body["options"]) == ("mp4", "standard", {})


def test_a_succeeded_compilation_gives_its_video_url(
    api: RunningService, db: Database, api_media_store: LocalMediaStore
) -> None:
    _approve_all(api, db)
    compilation_id = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile", json={"outputFormat": "webm"}, timeout=10
    ).json()["compilationId"]
    key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.webm"
    with db.connect() as conn:
        compilation_rows.claim_compilation(conn, compilation_id, SCRIPT)
        compilation_rows.finish_compilation(
            conn,
            compilation_id,
            output_key=key,
            output_uri=api_media_store.uri(key),
            duration_s=7.5,
            size_bytes=12345,
            clip_count=3,
            cost_usd=0.2,
            plan={},
        )
    body = httpx.get(f"{api.url}/api/compilations/{compilation_id}", timeout=10).json()
    assert body["status"] == "succeeded"
    assert body["compiledVideoUrl"] == api_media_store.public_url(key)
    assert (body["videoCount"], body["fileSize"], body["duration"]) == (3, 12345, 7.5)
    assert body["completedAt"] is not None and body["error"] is None
    assert body["sections"] is None, "no voices: no section timing"
    status = httpx.get(f"{api.url}/api/scripts/{SCRIPT}", timeout=10).json()
    assert status["compilation"]["id"] == compilation_id


def test_a_voiced_compilation_says_how_each_section_followed_its_voice(
    api: RunningService, db: Database, api_media_store: LocalMediaStore
) -> None:
    _approve_all(api, db)
    compilation_id = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json={}).json()[
        "compilationId"
    ]
    timing = {
        "voice_s": 2.6,
        "clip_s": 2.3,
        "section_s": 3.0,
        "action": "hold",
        "slowdown": 1.0,
        "held_s": 0.7,
        "reason": "clip 2.30 s < voice 2.60 s + pad",
    }
    plan = {"clips": [{"index": 0, "timing": timing}, {"index": 1, "timing": None}]}
    with db.connect() as conn:
        compilation_rows.claim_compilation(conn, compilation_id, SCRIPT)
        compilation_rows.finish_compilation(
            conn, compilation_id, output_key="k.mp4", output_uri="k.mp4", duration_s=5.0,
            size_bytes=1, clip_count=2, cost_usd=0.0, plan=plan,
        )  # fmt: skip
    body = httpx.get(f"{api.url}/api/compilations/{compilation_id}", timeout=10).json()
    assert body["sections"] == [
        {k: timing[k] for k in ("voice_s", "clip_s", "section_s", "action", "reason")},
        dict.fromkeys(("voice_s", "clip_s", "section_s", "action", "reason")),
    ]


def test_on_s3_the_video_url_is_presigned(
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
    _approve_all(service, db)
    compilation_id = httpx.post(
        f"{service.url}/api/scripts/{SCRIPT}/compile", json={}, timeout=10
    ).json()["compilationId"]
    video = make_clip()
    key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"
    with db.connect() as conn:
        compilation_rows.claim_compilation(conn, compilation_id, SCRIPT)
        compilation_rows.finish_compilation(
            conn,
            compilation_id,
            output_key=key,
            output_uri=store.put_file(key, video),
            duration_s=1.0,
            size_bytes=video.stat().st_size,
            clip_count=3,
            cost_usd=0.1,
            plan={},
        )
    body = httpx.get(f"{service.url}/api/compilations/{compilation_id}", timeout=10).json()
    assert body["compiledVideoUrl"].startswith(client.meta.endpoint_url)
    assert "Signature" in body["compiledVideoUrl"]
    downloaded = httpx.get(body["compiledVideoUrl"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == video.read_bytes()


def test_unknown_script_and_compilation_are_404(api: RunningService) -> None:
    missing = httpx.post(f"{api.url}/api/scripts/nope/compile", json={}, timeout=10)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    unknown = httpx.get(f"{api.url}/api/compilations/999", timeout=10)
    assert unknown.status_code == 404 and "999" in unknown.json()["detail"]
    for bad in ("abc", "0", str(2**63)):
        refused = httpx.get(f"{api.url}/api/compilations/{bad}", timeout=10)
        assert refused.status_code == 422, bad


def test_sections_not_approved_are_named_in_a_409(api: RunningService, db: Database) -> None:
    add_clip(db, SCRIPT, "hook")
    httpx.post(f"{api.url}/api/scripts/{SCRIPT}/sections/hook/approve", json={}, timeout=10)
    answer = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json={}, timeout=10)
    assert answer.status_code == 409
    assert "offer, close" in answer.json()["detail"]
    assert _compilations(db) == []


def test_a_second_request_in_flight_is_409(api: RunningService, db: Database) -> None:
    _approve_all(api, db)
    url = f"{api.url}/api/scripts/{SCRIPT}/compile"
    first = httpx.post(url, json={}, timeout=10).json()["compilationId"]
    again = httpx.post(url, json={"outputFormat": "webm"}, timeout=10)
    assert again.status_code == 409
    assert f"compilation {first} is requested" in again.json()["detail"]
    with db.connect() as conn:
        compilation_rows.claim_compilation(conn, first, SCRIPT)
    running = httpx.post(url, json={}, timeout=10)
    assert running.status_code == 409 and "running" in running.json()["detail"]
    with db.connect() as conn:
        compilation_rows.fail_compilation(conn, first, "ffmpeg went away")
    after = httpx.post(url, json={}, timeout=10)
    assert after.status_code == 202, "a finished compilation does not block the next"
    assert len(_compilations(db)) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outputFormat": "mov"}, "outputFormat"),
        ({"quality": "ultra"}, "quality"),
        ({"size": "3x"}, "size"),
        ({"fps": "fast"}, "fps"),
        ({"transition": "spin"}, "transition"),
        ({"captions": "maybe"}, "captions"),
        ({"timing": {"fit": "stretch"}}, "timing.fit"),
        ({"timing": {"pad_s": 6}}, "timing.pad_s"),
        ({"timing": {"tempo": 1}}, "timing.tempo"),
        ({"format": "avi"}, "format"),
    ],
)
def test_a_bad_field_is_422_naming_it(
    api: RunningService, db: Database, body: dict[str, Any], field: str
) -> None:
    _approve_all(api, db)
    answer = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json=body, timeout=10)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]
    assert _compilations(db) == []


def test_compile_requests_follow_the_write_rules(api: RunningService, db: Database) -> None:
    _approve_all(api, db)
    url = f"{api.url}/api/scripts/{SCRIPT}/compile"
    foreign = httpx.post(url, json={}, headers={"Origin": "http://evil.example"}, timeout=10)
    assert foreign.status_code == 403
    form = httpx.post(url, content=b"quality=high", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    assert _compilations(db) == []


# -- section videos (the original API's review paths) -----------------------------------


def test_a_section_video_is_approved_by_its_take_id(api: RunningService, db: Database) -> None:
    add_clip(db, SCRIPT, "hook")
    video_id = _take_id(db, "hook")
    answer = httpx.post(
        f"{api.url}/api/section-videos/{video_id}/approve", json={"note": "great"}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() | {"approval_id": 0} == {
        "approval_id": 0,
        "videoId": video_id,
        "script": SCRIPT,
        "section": "hook",
        "subject": "clip",
        "take": 1,
        "decision": "approved",
        "decidedBy": "local operator",  # a loopback client of a service without keys
    }
    again = httpx.post(f"{api.url}/api/section-videos/{video_id}/reject", json={}, timeout=10)
    assert again.status_code == 409 and "already approved" in again.json()["detail"]


def test_a_rejected_section_video_gets_a_new_take(api: RunningService, db: Database) -> None:
    add_clip(db, SCRIPT, "offer")
    video_id = _take_id(db, "offer")
    answer = httpx.post(
        f"{api.url}/api/section-videos/{video_id}/reject",
        json={"note": "too dark", "prompt": "a brighter kitchen", "seed": 11},
        timeout=10,
    )
    assert answer.status_code == 201 and answer.json()["decision"] == "rejected"
    with db.connect() as conn:
        [decision] = conn.execute("SELECT * FROM approvals").fetchall()
    assert (decision["prompt"], decision["seed"], decision["take"]) == ("a brighter kitchen", 11, 1)


def test_a_section_video_no_longer_under_review_is_409(api: RunningService, db: Database) -> None:
    add_clip(db, SCRIPT, "close")
    old = _take_id(db, "close")
    with db.connect() as conn:
        conn.execute(
            "UPDATE sections SET current_take = 2 WHERE script_id = %s AND id = 'close'", (SCRIPT,)
        )
    add_clip(db, SCRIPT, "close", take=2)
    answer = httpx.post(f"{api.url}/api/section-videos/{old}/approve", json={}, timeout=10)
    assert answer.status_code == 409
    assert "current take is 2" in answer.json()["detail"]


def test_unknown_or_malformed_section_videos_are_refused(api: RunningService, db: Database) -> None:
    unknown = httpx.post(f"{api.url}/api/section-videos/424242/approve", json={}, timeout=10)
    assert unknown.status_code == 404 and "424242" in unknown.json()["detail"]
    for bad in ("abc", "-1", str(2**63)):
        refused = httpx.post(f"{api.url}/api/section-videos/{bad}/approve", json={}, timeout=10)
        assert refused.status_code == 422, bad
    add_clip(db, SCRIPT, "hook")
    video_id = _take_id(db, "hook")
    wrong = httpx.post(
        f"{api.url}/api/section-videos/{video_id}/approve", json={"seed": 3}, timeout=10
    )
    assert wrong.status_code == 422 and "seed" in wrong.json()["detail"]
    foreign = httpx.post(
        f"{api.url}/api/section-videos/{video_id}/approve",
        json={},
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert foreign.status_code == 403
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) AS n FROM approvals").fetchone()["n"] == 0


def test_a_section_video_decision_takes_a_long_prompt(api: RunningService, db: Database) -> None:
    add_clip(db, SCRIPT, "hook")
    video_id = _take_id(db, "hook")
    prompt = "a brighter kitchen, " * 150  # 3 KB and a 2 KB note: past 4 KiB, within 16
    answer = httpx.post(
        f"{api.url}/api/section-videos/{video_id}/reject",
        json={"prompt": prompt.strip(" ,"), "note": "n" * 2000},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def test_a_compile_may_change_how_sections_follow_their_voice(
    api: RunningService, db: Database
) -> None:
    _approve_all(api, db)
    answer = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile",
        json={"timing": {"fit": "loop", "pad_s": 0.25}},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    [row] = _compilations(db)
    assert row["options"]["timing"] == {
        "pad_s": 0.25, "fit": "loop", "max_slowdown": 1.5, "clip_audio": "lower", "lowered_db": -14.0,
    }  # fmt: skip


# -- the original system's compile: waiting for the video -----------------------------------


def _finish_soon(db: Database, store: LocalMediaStore, compilation_id: int) -> threading.Thread:
    """What the compile run does, a moment later, in another thread."""

    def run() -> None:
        time.sleep(0.6)
        with db.connect() as conn:
            compilation_rows.claim_compilation(conn, compilation_id, SCRIPT)
        time.sleep(0.3)
        key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"
        with db.connect() as conn:
            compilation_rows.finish_compilation(
                conn,
                compilation_id,
                output_key=key,
                output_uri=store.uri(key),
                duration_s=7.5,
                size_bytes=7085456,
                clip_count=3,
                cost_usd=0.2,
                plan={},
            )

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_prefer_wait_answers_the_original_shape_once_the_video_is_ready(
    api: RunningService, db: Database, api_media_store: LocalMediaStore
) -> None:
    _approve_all(api, db)
    with db.connect() as conn:  # the id the request will get: the next of the sequence
        [row] = conn.execute("SELECT nextval('compilations_id_seq') AS id").fetchall()
    runner = _finish_soon(db, api_media_store, int(row["id"]) + 1)
    answer = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile",
        json={"outputFormat": "mp4", "quality": "high"},  # the original's example body
        headers={"Prefer": "wait=20"},
        timeout=30,
    )
    runner.join()
    assert answer.status_code == 200, answer.text
    assert answer.headers["preference-applied"] == "wait=20"
    body = answer.json()
    assert body["success"] is True
    data = body["data"]
    assert data["compiledVideoUrl"] == api_media_store.public_url(
        f"scripts/{SCRIPT}/final/{SCRIPT}-c{data['compilationId']}.mp4"
    )
    assert (data["videoCount"], data["fileSize"], data["videoDuration"]) == (3, 7085456, 7.5)
    assert 200 <= data["duration"] < 5000, "the compile's milliseconds, as the original's"


def test_prefer_wait_answers_a_failed_compile_in_the_original_shape(
    api: RunningService, db: Database
) -> None:
    _approve_all(api, db)
    with db.connect() as conn:  # the id the request will get: the next of the sequence
        [row] = conn.execute("SELECT nextval('compilations_id_seq') AS id").fetchall()
    compilation_id = int(row["id"]) + 1

    def fail_soon() -> None:
        time.sleep(0.6)
        with db.connect() as conn:
            compilation_rows.claim_compilation(conn, compilation_id, SCRIPT)
            compilation_rows.fail_compilation(conn, compilation_id, "ffmpeg exited with 1")

    runner = threading.Thread(target=fail_soon)
    runner.start()
    answer = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile",
        json={},
        headers={"Prefer": "wait=20"},
        timeout=30,
    )
    runner.join()
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"success": False, "error": "ffmpeg exited with 1"}


def test_prefer_wait_that_runs_out_answers_the_compilation_to_follow(
    api: RunningService, db: Database
) -> None:
    _approve_all(api, db)
    started = time.monotonic()
    answer = httpx.post(
        f"{api.url}/api/scripts/{SCRIPT}/compile",
        json={},
        headers={"Prefer": "respond-async, wait=1"},
        timeout=30,
    )
    assert answer.status_code == 202 and answer.json()["status"] == "requested"
    assert 1 <= time.monotonic() - started < 5
    assert "preference-applied" not in answer.headers


def test_an_explicit_compile_while_the_automatic_one_runs_answers_it(
    api: RunningService, db: Database
) -> None:
    _approve_all(api, db)
    with db.connect() as conn:
        [approval] = conn.execute("SELECT max(id) AS id FROM approvals").fetchall()
        automatic = compilation_rows.request_compilation(
            conn,
            SCRIPT,
            output_format="mp4",
            quality="standard",
            options={},
            requested_by="approval sensor",
            approval_id=approval["id"],
        )
    assert automatic is not None
    answer = httpx.post(f"{api.url}/api/scripts/{SCRIPT}/compile", json={}, timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.json()["compilationId"] == automatic.id
    assert len(_compilations(db)) == 1, "no second compilation"
