"""What the S3 store alone does, on the moto server: object metadata and tags, multipart uploads,
presigned URLs, the download cache, bucket errors; its contract with the local folder is in
`test_base.py`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.stub import Stubber

from tests.storage.conftest import KEY
from vsl_pipelines.storage.base import MEDIA_TAG, media_key
from vsl_pipelines.storage.s3 import S3AccessDenied, S3BucketNotFound, S3MediaStore

MIB = 1024 * 1024


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def count_calls(client: Any, operation: str) -> Callable[[], int]:
    calls: list[str] = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(operation))
    return lambda: len(calls)


def test_a_clip_is_stored_under_the_prefix_with_its_type_and_cached_locally(
    s3_store: S3MediaStore,
    s3_bucket: tuple[Any, str],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    client, bucket = s3_bucket
    clip = make_clip()
    assert s3_store.put_file(KEY, clip) == f"s3://{bucket}/media/{KEY}"
    head = client.head_object(Bucket=bucket, Key=f"media/{KEY}")
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == clip.stat().st_size
    local = s3_store.local_path(KEY)
    assert local.is_relative_to(tmp_path / "cache")
    assert local.read_bytes() == clip.read_bytes()


def test_large_file_goes_multipart_in_little_memory(
    s3_store: S3MediaStore, s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        for _ in range(20):
            f.write(os.urandom(MIB))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        s3_store.put_file("scripts/s1/final.bin", big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * MIB, f"peak {peak / MIB:.1f} MiB during a 20 MiB upload"
    head = client.head_object(Bucket=bucket, Key="media/scripts/s1/final.bin")
    parts = re.fullmatch(r'"[0-9a-f]{32}-(\d+)"', head["ETag"])
    assert parts and int(parts.group(1)) >= 2, head["ETag"]
    assert head["ContentLength"] == 20 * MIB
    assert head["ContentType"] == "application/octet-stream"
    assert sha256(s3_store.local_path("scripts/s1/final.bin")) == sha256(big)


def test_public_url_is_a_downloadable_presigned_get(s3_store: S3MediaStore, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    still.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    s3_store.put_file("scripts/s1/intro/keyframe-v1.png", still)
    url = s3_store.public_url("scripts/s1/intro/keyframe-v1.png")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == still.read_bytes()


def test_local_path_downloads_again_only_after_the_object_changes(
    s3_store: S3MediaStore, tmp_path: Path
) -> None:
    gets = count_calls(s3_store.client, "GetObject")
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(os.urandom(4096))
    second.write_bytes(os.urandom(4096))  # same size: only the ETag tells them apart
    s3_store.put_file(KEY, first)
    assert s3_store.local_path(KEY).read_bytes() == first.read_bytes()
    assert s3_store.local_path(KEY).read_bytes() == first.read_bytes()
    assert gets() == 1
    s3_store.put_file(KEY, second)
    assert s3_store.local_path(KEY).read_bytes() == second.read_bytes()
    assert gets() == 2


def test_local_path_repairs_a_damaged_cache_copy(s3_store: S3MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(os.urandom(4096))
    s3_store.put_file(KEY, source)
    s3_store.local_path(KEY).write_bytes(b"truncated")
    assert s3_store.local_path(KEY).read_bytes() == source.read_bytes()


def test_missing_bucket_is_a_clear_error(
    s3_bucket: tuple[Any, str], tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    client, _ = s3_bucket
    missing = S3MediaStore("vsl-no-such-bucket", client=client, cache_dir=tmp_path)
    for call in (
        lambda: missing.put_file(KEY, make_clip()),
        lambda: missing.exists(KEY),
        lambda: missing.local_path(KEY),
    ):
        with pytest.raises(S3BucketNotFound) as caught:
            call()
        assert "'vsl-no-such-bucket'" in str(caught.value) and KEY in str(caught.value)
        assert "testing" not in str(caught.value)  # the fixture's dummy credentials
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_access_denied_names_bucket_and_key(s3_store: S3MediaStore) -> None:
    # moto does not enforce IAM, so S3's 403 is stubbed (the only test here not over HTTP).
    with Stubber(s3_store.client) as stub:
        stub.add_client_error("head_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(S3AccessDenied, match=re.escape(f"s3://{s3_store.bucket}/media/{KEY}")):
            s3_store.exists(KEY)


@pytest.mark.parametrize("key", ["a/./b.mp4", ""])
def test_keys_must_be_plain_relative_paths(
    s3_store: S3MediaStore, key: str, tmp_path: Path
) -> None:
    """Keys that leave the store are refused by both stores (`test_base.py`); S3 also refuses
    these, which a folder would resolve."""
    source = tmp_path / "x.mp4"
    source.write_bytes(b"x")
    with pytest.raises(ValueError, match="media key"):
        s3_store.put_file(key, source)
    with pytest.raises(ValueError, match="media key"):
        s3_store.local_path(key)


def test_every_object_is_tagged_with_its_kind_for_the_lifecycle_rules(
    s3_store: S3MediaStore, s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    source = tmp_path / "object.bin"
    source.write_bytes(b"media")
    keys = {
        media_key("s1", "intro", "clip", 2, "mp4"): "take",
        media_key("s1", "", "soundtrack", 1, "wav"): "take",
        "scripts/s1/intro/preview-c2-n1.mp4": "preview",  # services/previews.py
        "scripts/s1/final/s1-c3.mp4": "final",  # services/compilation.py
        "scripts/s1/final/s1-c3.poster.jpg": "final",
        "adhoc/2026-12-01/0f1e2d3c.png": "adhoc",  # generation/adhoc.py
    }
    for key, kind in keys.items():
        s3_store.put_file(key, source)
        tags = client.get_object_tagging(Bucket=bucket, Key=f"media/{key}")["TagSet"]
        assert tags == [{"Key": MEDIA_TAG, "Value": kind}], key


def test_delivery_files_have_their_types_and_final_ones_a_year_of_cache(
    s3_store: S3MediaStore, s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    """Read back from S3: each final object's Content-Type, a year of immutable caching for
    the content-named ones (their names carry the compilation), a minute for the playlists
    that name what a player fetches next; nothing set on a take."""
    client, bucket = s3_bucket
    source = tmp_path / "object.bin"
    source.write_bytes(b"media")
    final = "scripts/s1/final/s1-c3"
    year, minute = "public, max-age=31536000, immutable", "public, max-age=60"
    expected = {
        f"{final}-hls/master.m3u8": ("application/vnd.apple.mpegurl", minute),
        f"{final}-hls/540p.m3u8": ("application/vnd.apple.mpegurl", minute),
        f"{final}-hls/540p-00001.ts": ("video/mp2t", year),
        f"{final}-hls/540p-00001.m4s": ("video/iso.segment", year),
        f"{final}-captions.vtt": ("text/vtt; charset=utf-8", year),
        f"{final}-chapters.vtt": ("text/vtt; charset=utf-8", year),
        f"{final}-captions.srt": ("application/x-subrip; charset=utf-8", year),
        f"{final}-9x16.mp4": ("video/mp4", year),
        f"{final}.mp4": ("video/mp4", year),
        f"{final}-poster.jpg": ("image/jpeg", year),
    }
    for key, (content_type, cache) in expected.items():
        s3_store.put_file(key, source)
        head = client.head_object(Bucket=bucket, Key=f"media/{key}")
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache), key
    s3_store.put_file(KEY, source)
    head = client.head_object(Bucket=bucket, Key=f"media/{KEY}")
    assert head["ContentType"] == "video/mp4" and "CacheControl" not in head


def _cdn_store(s3_bucket: tuple[Any, str], tmp_path: Path, cdn_url: str) -> S3MediaStore:
    client, bucket = s3_bucket
    return S3MediaStore(
        bucket, prefix="media/", client=client, cache_dir=tmp_path / "cache", cdn_url=cdn_url
    )


def test_final_objects_are_handed_out_at_the_cdn_and_the_rest_presigned(
    s3_bucket: tuple[Any, str], moto_server: str, tmp_path: Path
) -> None:
    """With a CDN over the bucket, a final object's URL is `{cdn}/{object key}`, unsigned, and
    serves the object with its stored headers; takes, previews and one-offs stay presigned.
    Here the moto server's path-style bucket URL stands in for CloudFront, and a bucket policy
    lets anyone read what the stack lets CloudFront read (`scripts/*/final/*`) and no more."""
    client, bucket = s3_bucket
    cdn = f"{moto_server}/{bucket}"
    final_objects = f"arn:aws:s3:::{bucket}/media/scripts/*/final/*"
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
    policy = {"Version": "2012-10-17", "Statement": [{**statement, "Resource": final_objects}]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    store = _cdn_store(s3_bucket, tmp_path, cdn + "/")  # a trailing slash is not doubled
    video, playlist = tmp_path / "cut.mp4", tmp_path / "master.m3u8"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 final video")
    playlist.write_text("#EXTM3U\n")
    final_video, final_playlist = (
        "scripts/s1/final/s1-c3.mp4",
        "scripts/s1/final/s1-c3-hls/master.m3u8",
    )
    store.put_file(final_video, video)
    store.put_file(final_playlist, playlist)

    url = store.public_url(final_video)
    assert url == f"{cdn}/media/{final_video}"
    served = httpx.get(url, timeout=10)
    assert served.status_code == 200 and served.content == video.read_bytes()
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    served = httpx.get(store.public_url(final_playlist), timeout=10)
    assert served.text == "#EXTM3U\n" and served.headers["cache-control"] == "public, max-age=60"

    not_final = [
        KEY,
        "scripts/s1/intro/preview-c2-n1.mp4",
        "adhoc/2026-12-01/final/0f1e2d3c.png",  # `final` elsewhere than a script's prefix
        "scripts/final/s1-c3.mp4",  # no script id
    ]
    for key in not_final:
        store.put_file(key, video)
        presigned = store.public_url(key)
        assert presigned.startswith(f"{moto_server}/") and "X-Amz-Signature=" in presigned, key
        assert httpx.get(presigned, timeout=10).content == video.read_bytes(), key
        assert httpx.get(f"{cdn}/media/{key}", timeout=10).status_code == 403, key


def test_without_a_cdn_final_objects_are_presigned_too(
    s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    store = _cdn_store(s3_bucket, tmp_path, "")
    source = tmp_path / "cut.mp4"
    source.write_bytes(b"final video")
    key = "scripts/s1/final/s1-c3.mp4"
    store.put_file(key, source)
    url = store.public_url(key)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=" in url
    assert httpx.get(url, timeout=10).content == b"final video"
