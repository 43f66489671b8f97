"""`VSL_MEDIA_CDN_URL` through the service built from settings, over real HTTP: the API hands out
a compiled video at the CDN when it is set, presigned when it is not; on the moto server, whose
path-style bucket URL stands in for CloudFront (a bucket policy lets it read the final objects,
as the stack's lets CloudFront)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.api import add_clip
from tests.fixtures.aws import REGION
from tests.fixtures.media import ClipFactory
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.settings import Settings
from vsl_pipelines.storage.s3 import S3MediaStore
from vsl_pipelines.web.server import (
    RunningService,
    build_app_from_settings,
    start_service_in_thread,
)

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


def _final_objects_readable_by_the_cdn(client: Any, bucket: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/scripts/*/final/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def _published(service: RunningService, db: Database, store: S3MediaStore, video: Path) -> int:
    """A compilation of the sample script, asked for through the API and finished as the
    compile run finishes one: its video stored under the script's final prefix."""
    for section in SECTIONS:
        add_clip(db, SCRIPT, section)
        url = f"{service.url}/api/scripts/{SCRIPT}/sections/{section}/approve"
        assert httpx.post(url, json={}, timeout=10).status_code == 201
    compilation_id: int = httpx.post(
        f"{service.url}/api/scripts/{SCRIPT}/compile", json={}, timeout=10
    ).json()["compilationId"]
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
    return compilation_id


@pytest.mark.parametrize("with_cdn", [True, False], ids=["cdn", "no-cdn"])
def test_the_api_hands_out_final_videos_at_the_media_cdn_when_set(
    with_cdn: bool,
    db: Database,
    stored_script: Script,
    s3_bucket: tuple[Any, str],
    moto_server: str,
    tmp_path: Path,
    make_clip: ClipFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, bucket = s3_bucket
    _final_objects_readable_by_the_cdn(client, bucket)
    cdn = f"{moto_server}/{bucket}"
    # The service's own S3 client takes boto3's usual chain: the moto server's dummy keys.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    settings = Settings(
        DATABASE_URL=db.url,
        REPLICATE_WEBHOOK_SECRET="whsec_" + "A" * 43 + "=",
        VSL_MEDIA_ROOT=tmp_path / "media",
        VSL_S3_BUCKET=bucket,
        AWS_ENDPOINT_URL=moto_server,
        AWS_REGION=REGION,
        VSL_MEDIA_CDN_URL=f"{cdn}/" if with_cdn else "",
    )
    service = start_service_in_thread(build_app_from_settings(settings))
    try:
        video = make_clip()
        store = S3MediaStore(bucket, client=client, cache_dir=tmp_path / "cache")
        compilation_id = _published(service, db, store, video)
        key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"

        body = httpx.get(f"{service.url}/api/compilations/{compilation_id}", timeout=10).json()
        url = body["compiledVideoUrl"]
        download = httpx.get(f"{service.url}/api/scripts/{SCRIPT}/video", timeout=10)
    finally:
        service.stop()
    if with_cdn:
        assert url == f"{cdn}/{key}"
    else:
        assert url.startswith(f"{moto_server}/") and "X-Amz-Signature=" in url
    assert download.status_code == 307
    assert download.headers["location"].split("?")[0] == url.split("?")[0]
    served = httpx.get(url, timeout=10)
    assert served.status_code == 200 and served.content == video.read_bytes()
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
