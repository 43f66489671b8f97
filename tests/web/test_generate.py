"""The original API's first calls against the real sandbox: `POST /api/generate-media`, the
webhook into the inbox, the webhook sensor, the day's `adhoc_media` run, then
`GET /api/status/{jobId}` with the stored result, decoded; and every refusal."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx
import pytest

from tests.fixtures.adhoc import AdhocService, wait_for_webhooks
from tests.fixtures.sandbox import SANDBOX_TOKEN
from tests.fixtures.scripts import record_job
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.services.adhoc import plan_adhoc, submit_adhoc
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import operator

JSON = {"Content-Type": "application/json"}


def jobs_count(db: Database) -> int:
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) AS n FROM jobs").fetchone()
    assert row is not None
    return int(row["n"])


def test_generate_follow_and_fetch_image_audio_and_video(adhoc: AdhocService) -> None:
    image = adhoc.generate(
        {
            "userId": "user-1",
            "mediaType": "image",
            "modelId": "flux-schnell",
            "parameters": {"prompt": "a red apple on a table", "aspect_ratio": "16:9"},
        }
    )
    assert image.status_code == 202, image.text
    answer = image.json()
    assert set(answer) == {"jobId", "status", "estimatedTime", "estimatedCost"}
    assert (answer["status"], answer["estimatedTime"], answer["estimatedCost"]) == (
        "pending",
        2,
        0.003,
    )
    image_id = answer["jobId"]
    assert str(uuid.UUID(image_id)) == image_id
    first = adhoc.status_of(image_id)
    assert first["status"] in ("pending", "processing")
    assert (first["userId"], first["mediaType"], first["modelId"]) == (
        "user-1",
        "image",
        "flux-schnell",
    )
    assert first["result"] is None and first["estimatedCost"] == 0.003

    audio = adhoc.generate(
        {
            "userId": "user-2",
            "mediaType": "audio",
            "modelId": "musicgen",
            "parameters": {"prompt": "soft piano", "duration": 2},
        }
    )
    assert audio.status_code == 202, audio.text
    audio_id = audio.json()["jobId"]
    # musicgen on an A100 (80GB): 30 s expected for its 8 s default, so 7.5 s for 2 s.
    assert audio.json()["estimatedCost"] == pytest.approx(7.5 * 0.0014)

    wait_for_webhooks(adhoc.inbox, 2)
    today = datetime.now(UTC).date().isoformat()
    with dg.instance_for_test() as instance:
        requests = adhoc.tick(instance)
        assert [(r.job_name, r.partition_key) for r in requests] == [("collect_adhoc", today)]
        # Done but not stored yet: still processing for the client.
        assert adhoc.status_of(image_id)["status"] == "processing"
        result = adhoc.collect(instance, today)
        [materialization] = result.asset_materializations_for_node("adhoc_media")
        metadata = materialization.metadata
        assert (metadata["stored_now"].value, metadata["jobs"].value) == (2, 2)
        assert metadata["by_user"].value == {"user-1": 1, "user-2": 1}
        assert metadata["estimated_usd"].value == pytest.approx(0.003 + 0.0105)
        assert adhoc.tick(instance) == [], "nothing left to collect: no second run"

    done = adhoc.status_of(image_id)
    assert done["status"] == "completed" and done["completedAt"] is not None
    assert done["actualCost"] == 0.003 and done["error"] is None
    # The sandbox reports Replicate's metrics.predict_time; the status answers it.
    assert isinstance(done["predictTime"], float) and 0 < done["predictTime"] < 30
    result_doc = done["result"]
    assert result_doc["contentType"].startswith("image/")
    picture = httpx.get(result_doc["originalUrl"])
    assert picture.status_code == 200 and len(picture.content) == result_doc["fileSize"]
    stored = adhoc.media_root / "downloaded.img"
    stored.write_bytes(picture.content)
    probe = probe_media(stored)
    assert (probe.kind, probe.width, probe.height) == (
        "image",
        result_doc["width"],
        result_doc["height"],
    )
    assert probe.width > probe.height, "16:9 as asked"
    assert httpx.get(result_doc["thumbnailUrl"]).status_code == 200

    sound = adhoc.status_of(audio_id)
    assert sound["status"] == "completed" and sound["result"]["thumbnailUrl"] is None
    track = adhoc.media_root / "downloaded.wav"
    track.write_bytes(httpx.get(sound["result"]["originalUrl"]).content)
    assert probe_media(track).duration_s == pytest.approx(2.0, abs=0.1)
    assert sound["result"]["durationS"] == pytest.approx(2.0, abs=0.1)
    # Billed as Replicate bills a hardware model: its predict_time at the A100's rate.
    assert sound["costSource"] == "billed" and sound["predictTime"] > 0
    assert sound["actualCost"] == pytest.approx(sound["predictTime"] * 0.0014, abs=2e-6)

    # Image-to-video from the stored image, by its URL, as an integrator would chain them.
    video = adhoc.generate(
        {
            "userId": "user-1",
            "mediaType": "video",
            "modelId": "stability-video",
            "parameters": {"input_image": result_doc["originalUrl"]},
        }
    )
    assert video.status_code == 202, video.text
    wait_for_webhooks(adhoc.inbox, 3)
    with dg.instance_for_test() as instance:
        adhoc.tick(instance)
        adhoc.collect(instance, today)
    clip = adhoc.status_of(video.json()["jobId"])
    assert clip["status"] == "completed", clip
    movie = adhoc.media_root / "downloaded.mp4"
    movie.write_bytes(httpx.get(clip["result"]["originalUrl"]).content)
    decoded = probe_media(movie)
    assert decoded.kind == "video" and decoded.frames and decoded.frames >= 14
    assert clip["result"]["durationS"] == pytest.approx(decoded.duration_s, abs=0.01)
    assert clip["result"]["width"] == decoded.width

    # The metrics scraped afterwards count what happened.
    scraped = httpx.get(f"{adhoc.url}/metrics").text
    assert 'vsl_jobs_started_total{model="flux-schnell"} 1.0' in scraped
    assert 'vsl_jobs_completed_total{model="stability-video"} 1.0' in scraped
    assert 'vsl_jobs_failed_total{model="musicgen"} 0.0' in scraped
    assert 'vsl_status_reads_total{layer="redis"}' in scraped
    assert 'vsl_cost_actual_usd_total{model="flux-schnell"} 0.003' in scraped


def test_a_job_whose_webhook_is_lost_is_completed_by_the_reconciler(
    adhoc: AdhocService, registry: Registry
) -> None:
    assert adhoc.status.caches  # the service's Redis layer
    lost = PredictionClient(
        adhoc.sandbox.base_url.removesuffix("/v1"),
        SANDBOX_TOKEN,
        "http://127.0.0.1:1/webhooks/replicate",  # nobody listens: the webhook never arrives
    )
    plan = plan_adhoc(registry, "image", "sdxl", {"prompt": "a lost webhook"})
    with adhoc.db.connect() as conn:
        operator_actor = operator(conn)
    job_id = submit_adhoc(adhoc.db, lost, plan, operator_actor, "user-3", adhoc.status)["jobId"]
    deadline = time.monotonic() + 20
    today = datetime.now(UTC).date().isoformat()
    with dg.instance_for_test() as instance:
        while True:  # the reconciler polls jobs whose webhook is late (here: at once)
            requests = adhoc.tick(instance, late_webhook_s=0.0)
            if requests:
                break
            assert time.monotonic() < deadline, "the reconciler never saw the prediction finish"
            time.sleep(0.2)
        assert adhoc.inbox.latest_cursor() == 0, "no webhook came"
        assert [r.partition_key for r in requests] == [today]
        adhoc.collect(instance, today)
    document = adhoc.status_of(job_id)
    assert document["status"] == "completed" and document["result"]["width"] > 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {
                "userId": "u",
                "mediaType": "image",
                "modelId": "dall-e",
                "parameters": {"prompt": "x"},
            },
            422,
            "modelId",
        ),
        (
            {"userId": "u", "mediaType": "video", "modelId": "sdxl", "parameters": {"prompt": "x"}},
            422,
            "mediaType",
        ),
        (
            {"userId": "u", "mediaType": "movie", "modelId": "sdxl", "parameters": {"prompt": "x"}},
            422,
            "mediaType",
        ),
        (
            {
                "userId": "u",
                "mediaType": "image",
                "modelId": "sdxl",
                "parameters": {"prompt": "x", "steps": 3},
            },
            422,
            "steps",
        ),
        (
            {
                "userId": "u",
                "mediaType": "image",
                "modelId": "sdxl",
                "parameters": {"prompt": "x", "width": 4096},
            },
            422,
            "width",
        ),
        (
            {
                "userId": "u",
                "mediaType": "image",
                "modelId": "sdxl",
                "parameters": {"prompt": "x", "width": 100},
            },
            422,
            "width",
        ),
        (
            {
                "userId": "u",
                "mediaType": "image",
                "modelId": "flux-schnell",
                "parameters": {"aspect_ratio": "7:3", "prompt": "x"},
            },
            422,
            "aspect_ratio",
        ),
        (
            {"userId": "u", "mediaType": "image", "modelId": "sdxl", "parameters": {}},
            422,
            "parameters.prompt",
        ),
        (
            {"userId": "u", "mediaType": "video", "modelId": "stability-video", "parameters": {}},
            422,
            "parameters.input_image",
        ),
        (
            {
                "userId": "u",
                "mediaType": "video",
                "modelId": "stability-video",
                "parameters": {"input_image": "file:///etc/passwd"},
            },
            422,
            "parameters.input_image",
        ),
        (
            {
                "userId": "u",
                "mediaType": "audio",
                "modelId": "musicgen",
                "parameters": {"prompt": "x", "duration": 1e9},
            },
            422,
            "duration",
        ),
        (
            {
                "userId": "u\nv",
                "mediaType": "image",
                "modelId": "sdxl",
                "parameters": {"prompt": "x"},
            },
            422,
            "userId",
        ),
        ({"mediaType": "image", "modelId": "sdxl", "parameters": {"prompt": "x"}}, 422, "userId"),
        (
            {
                "userId": "u",
                "mediaType": "image",
                "modelId": "sdxl",
                "parameters": {"prompt": "x"},
                "extra": 1,
            },
            422,
            "extra",
        ),
        (
            {"userId": "u", "mediaType": "image", "modelId": "sdxl", "parameters": [1]},
            422,
            "parameters",
        ),
    ],
)
def test_bad_requests_are_refused_before_any_spend(
    adhoc: AdhocService, body: dict[str, Any], status: int, field: str
) -> None:
    answer = adhoc.generate(body)
    assert answer.status_code == status, answer.text
    assert field in answer.json()["detail"], answer.text
    assert jobs_count(adhoc.db) == 0, "nothing recorded"
    assert adhoc.sandbox.engine.store.all() == [], "no prediction created"


def test_bodies_out_of_bounds_are_refused(adhoc: AdhocService) -> None:
    url = f"{adhoc.url}/api/generate-media"
    huge = httpx.post(url, content=b'{"userId": "' + b"u" * 70_000 + b'"}', headers=JSON)
    assert huge.status_code == 413
    deep = httpx.post(url, content=b"[" * 5000 + b"]" * 5000, headers=JSON)
    assert deep.status_code == 422 and "nested" in deep.text
    not_json = httpx.post(url, content=b"userId=u", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415
    nan = httpx.post(
        url,
        content=b'{"userId": "u", "mediaType": "image", "modelId": "sdxl", "parameters": {"prompt": "x", "guidance_scale": NaN}}',
        headers=JSON,
    )
    assert nan.status_code == 422
    assert jobs_count(adhoc.db) == 0


def test_a_key_acts_for_its_own_user_only(adhoc: AdhocService) -> None:
    _, key = create_key(adhoc.db, name="acme", user_id="acme-user", rate_per_minute=100)
    body = {"mediaType": "image", "modelId": "sdxl", "parameters": {"prompt": "x"}}
    other = adhoc.generate({**body, "userId": "someone-else"}, **{"X-API-Key": key})
    assert other.status_code == 403 and "acme-user" in other.text
    own = adhoc.generate(body, **{"X-API-Key": key})
    assert own.status_code == 202, own.text
    assert adhoc.status_of(own.json()["jobId"])["userId"] == "acme-user"


def test_replicate_refusing_answers_502_and_records_the_failure(
    adhoc: AdhocService, registry: Registry
) -> None:
    adhoc.sandbox.stop()  # Replicate unreachable
    answer = adhoc.generate(
        {"userId": "u", "mediaType": "image", "modelId": "sdxl", "parameters": {"prompt": "x"}}
    )
    assert answer.status_code == 502, answer.text
    job_id = answer.json()["detail"].split()[1]
    document = adhoc.status_of(job_id)
    assert document["status"] == "failed" and "could not be reached" in document["error"]
    assert SANDBOX_TOKEN not in answer.text + document["error"]


def test_status_refusals_and_a_script_job(adhoc: AdhocService, stored_script: Script) -> None:
    assert httpx.get(f"{adhoc.url}/api/status/not-a-uuid").status_code == 422
    missing = httpx.get(f"{adhoc.url}/api/status/{uuid.uuid4()}")
    assert missing.status_code == 404
    with adhoc.db.connect() as conn:
        job = record_job(conn, "pred-script", "processing")
        row = conn.execute("SELECT public_id FROM jobs WHERE id = %s", (job,)).fetchone()
    assert row is not None
    document = adhoc.status_of(str(row["public_id"]))
    assert (
        document["status"],
        document["scriptId"],
        document["sectionId"],
        document["userId"],
    ) == (
        "processing",
        "spring-launch",
        "hook",
        None,
    )


def test_the_original_readme_example_is_accepted_with_a_warning(adhoc: AdhocService) -> None:
    """The original system's documented request, as its clients send it: flux-schnell with
    width/height, which flux-schnell does not take; read as its nearest aspect ratio."""
    answer = adhoc.generate(
        {
            "userId": "user123",
            "mediaType": "image",
            "modelId": "flux-schnell",
            "parameters": {
                "prompt": "A beautiful sunset over mountains",
                "width": 1024,
                "height": 1024,
            },
        }
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["warnings"] == [
        "parameters.width/height: model 'flux-schnell' takes aspect_ratio, not a size;"
        " 1024x1024 was sent as aspect_ratio '1:1'"
    ]
    with adhoc.db.connect() as conn:
        row = conn.execute(
            "SELECT input FROM jobs WHERE public_id = %s", (answer.json()["jobId"],)
        ).fetchone()
    assert row is not None and row["input"]["aspect_ratio"] == "1:1"
    assert "width" not in row["input"] and "height" not in row["input"]
