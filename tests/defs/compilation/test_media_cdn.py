"""`VSL_MEDIA_CDN_URL` in Dagster: the media store resource takes it from settings as the service
does, so the compiled video's "video" link in the UI is the CDN's (which lasts), not a presigned
URL that expires in an hour; on the moto server, whose path-style bucket URL stands in for
CloudFront (a bucket policy lets it read the final objects, as the stack's lets CloudFront)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from dagster_aws.s3 import S3Resource

from tests.fixtures.aws import REGION
from tests.fixtures.media import ClipFactory
from tests.fixtures.scripts import record_clip
from vsl_pipelines.db.database import Database
from vsl_pipelines.definitions import resources_from_settings
from vsl_pipelines.defs.compilation.assets import compiled_video
from vsl_pipelines.defs.compilation.sensors import compile_request_tick
from vsl_pipelines.defs.resources import DatabaseResource, MediaStoreResource
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.compilation import CompileRequests, request_compile
from vsl_pipelines.services.review import decide
from vsl_pipelines.settings import get_settings

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")
FINAL_KEY = f"scripts/{SCRIPT}/final/{SCRIPT}-c1.mp4"


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("cdn", ["https://media.example.com", ""], ids=["cdn", "no-cdn"])
def test_the_resource_takes_the_media_cdn_url_from_settings(
    cdn: str, fresh_settings: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VSL_S3_BUCKET", "vsl-media")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("VSL_MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("VSL_MEDIA_CDN_URL", f"{cdn}/" if cdn else "")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    resource = resources_from_settings(get_settings())["media_store"]
    assert resource.cdn_url == (f"{cdn}/" if cdn else "")
    store = resource.store()
    url = store.public_url(FINAL_KEY)
    if cdn:
        assert url == f"{cdn}/{FINAL_KEY}"
        assert store.cdn_base(f"scripts/{SCRIPT}/final") == f"{cdn}/scripts/{SCRIPT}/final"
    else:
        assert url.startswith("https://") and "X-Amz-Signature=" in url  # SigV4
        assert store.cdn_base(f"scripts/{SCRIPT}/final") is None
    # Takes stay presigned either way.
    assert "X-Amz-Signature=" in store.public_url(f"scripts/{SCRIPT}/hook/clip-v1.mp4")


@pytest.mark.parametrize("with_cdn", [True, False], ids=["cdn", "no-cdn"])
def test_the_compiled_video_s_link_is_the_cdn_s_when_set(
    with_cdn: bool,
    db: Database,
    stored_script: Script,
    s3_bucket: tuple[Any, str],
    moto_server: str,
    make_clip: ClipFactory,
    tmp_path: Path,
) -> None:
    client, bucket = s3_bucket
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/scripts/*/final/*",
    }
    client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    cdn = f"{moto_server}/{bucket}"
    with db.connect() as conn:
        for section in SECTIONS:
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
        conn.execute("UPDATE takes SET duration_s = 1.0 WHERE script_id = %s", (SCRIPT,))
        compilation_id = request_compile(
            conn, SCRIPT, quality="draft", overrides={"size": "320x180"}, requested_by="t"
        ).id
    for section, tone in zip(SECTIONS, (330, 440, 550), strict=True):
        client.upload_file(
            str(make_clip(seconds=1.0, tone=tone)),
            bucket,
            f"scripts/{SCRIPT}/{section}/clip-v1.mp4",
        )
    [request] = compile_request_tick(CompileRequests(db), batch=10)
    s3 = S3Resource(
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    resources = {
        "database": DatabaseResource(url=db.url),
        "media_store": MediaStoreResource(
            root=str(tmp_path / "media"),
            public_base_url="http://127.0.0.1:1/media",
            s3_bucket=bucket,
            s3=s3,
            cdn_url=f"{cdn}/" if with_cdn else "",
        ),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("scripts", [SCRIPT])
        result = dg.materialize(
            [compiled_video],
            partition_key=SCRIPT,
            tags=dict(request.tags),
            instance=instance,
            resources=resources,
        )
    assert result.success
    link = result.asset_materializations_for_node("compiled_video")[0].metadata["video"]
    assert isinstance(link, dg.UrlMetadataValue)
    key = f"scripts/{SCRIPT}/final/{SCRIPT}-c{compilation_id}.mp4"
    if with_cdn:
        assert link.value == f"{cdn}/{key}"
    else:
        assert link.value.startswith(f"{cdn}/{key}?") and "X-Amz-Signature=" in link.value
    served = httpx.get(link.value, timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"
    stored = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert served.content == stored
