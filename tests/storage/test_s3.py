from __future__ import annotations

import hashlib
import inspect
import os
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.stub import Stubber

from vsl_pipelines.storage.base import MEDIA_TAG, MediaStore, media_key
from vsl_pipelines.storage.s3 import S3AccessDenied, S3BucketNotFound, S3MediaStore

MIB = 1024 * 1024
KEY = media_key("s1", "intro", "clip", 1, "mp4")


@pytest.fixture
def store(s3_bucket: tuple[Any, str], tmp_path: Path) -> S3MediaStore:
    client, bucket = s3_bucket
    return S3MediaStore(
        bucket, prefix="media/", client=client, cache_dir=tmp_path / "cache", presign_ttl_s=300
    )


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


@pytest.mark.parametrize("method", ["put_file", "exists", "local_path", "uri", "public_url"])
def test_implements_the_protocol(store: S3MediaStore, method: str) -> None:
    # MediaStore is not runtime-checkable: compare the signatures (mypy checks the types).
    expected = inspect.signature(getattr(MediaStore, method))
    assert inspect.signature(getattr(type(store), method)) == expected


def test_put_exists_local_path_round_trip_of_a_clip(
    store: S3MediaStore, s3_bucket: tuple[Any, str], make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    clip = make_clip()
    assert not store.exists(KEY)
    assert store.put_file(KEY, clip) == f"s3://{bucket}/media/{KEY}"
    assert store.exists(KEY)
    assert not store.exists(media_key("s1", "intro", "clip", 2, "mp4"))
    head = client.head_object(Bucket=bucket, Key=f"media/{KEY}")
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == clip.stat().st_size
    local = store.local_path(KEY)
    assert local.is_relative_to(tmp_path / "cache")
    assert local.read_bytes() == clip.read_bytes()
    assert [p.name for p in local.parent.iterdir() if p.name.endswith(".part")] == []


def test_large_file_goes_multipart_in_little_memory(
    store: S3MediaStore, s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        for _ in range(20):
            f.write(os.urandom(MIB))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        store.put_file("scripts/s1/final.bin", big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * MIB, f"peak {peak / MIB:.1f} MiB during a 20 MiB upload"
    head = client.head_object(Bucket=bucket, Key="media/scripts/s1/final.bin")
    parts = re.fullmatch(r'"[0-9a-f]{32}-(\d+)"', head["ETag"])
    assert parts and int(parts.group(1)) >= 2, head["ETag"]
    assert head["ContentLength"] == 20 * MIB
    assert head["ContentType"] == "application/octet-stream"
    assert sha256(store.local_path("scripts/s1/final.bin")) == sha256(big)


def test_public_url_is_a_downloadable_presigned_get(store: S3MediaStore, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    still.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    store.put_file("scripts/s1/intro/keyframe-v1.png", still)
    url = store.public_url("scripts/s1/intro/keyframe-v1.png")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == still.read_bytes()


def test_local_path_downloads_again_only_after_the_object_changes(
    store: S3MediaStore, tmp_path: Path
) -> None:
    gets = count_calls(store.client, "GetObject")
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(os.urandom(4096))
    second.write_bytes(os.urandom(4096))  # same size: only the ETag tells them apart
    store.put_file(KEY, first)
    assert store.local_path(KEY).read_bytes() == first.read_bytes()
    assert store.local_path(KEY).read_bytes() == first.read_bytes()
    assert gets() == 1
    store.put_file(KEY, second)
    assert store.local_path(KEY).read_bytes() == second.read_bytes()
    assert gets() == 2


def test_local_path_repairs_a_damaged_cache_copy(store: S3MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(os.urandom(4096))
    store.put_file(KEY, source)
    store.local_path(KEY).write_bytes(b"truncated")
    assert store.local_path(KEY).read_bytes() == source.read_bytes()


def test_missing_key_is_file_not_found(store: S3MediaStore) -> None:
    assert store.exists("scripts/nope.mp4") is False
    with pytest.raises(FileNotFoundError, match="scripts/nope.mp4"):
        store.local_path("scripts/nope.mp4")


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


def test_access_denied_names_bucket_and_key(store: S3MediaStore) -> None:
    # moto does not enforce IAM, so S3's 403 is stubbed (the only test here not over HTTP).
    with Stubber(store.client) as stub:
        stub.add_client_error("head_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(S3AccessDenied, match=re.escape(f"s3://{store.bucket}/media/{KEY}")):
            store.exists(KEY)


@pytest.mark.parametrize("key", ["../escape.mp4", "/abs.mp4", "a/../../b.mp4", "a/./b.mp4", ""])
def test_keys_must_stay_inside_the_store(store: S3MediaStore, key: str, tmp_path: Path) -> None:
    source = tmp_path / "x.mp4"
    source.write_bytes(b"x")
    with pytest.raises(ValueError, match="media key"):
        store.put_file(key, source)
    with pytest.raises(ValueError, match="media key"):
        store.local_path(key)


def test_every_object_is_tagged_with_its_kind_for_the_lifecycle_rules(
    store: S3MediaStore, s3_bucket: tuple[Any, str], tmp_path: Path
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
        store.put_file(key, source)
        tags = client.get_object_tagging(Bucket=bucket, Key=f"media/{key}")["TagSet"]
        assert tags == [{"Key": MEDIA_TAG, "Value": kind}], key
