"""The `MediaStore` contract, run on each back end: the local folder and S3 (on the moto server).
What one back end alone does is in `test_local.py`, `test_s3.py`."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from tests.storage.conftest import KEY
from vsl_pipelines.storage.base import MediaStore, media_key

# Each store's own words for a key that leaves it.
REFUSALS = {"local": "leaves the media folder", "s3": "is not a relative path inside the store"}


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest) -> MediaStore:
    return request.getfixturevalue(f"{backend}_store")


def partial_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("method", ["put_file", "exists", "local_path", "uri", "public_url"])
def test_implements_the_protocol(store: MediaStore, method: str) -> None:
    # MediaStore is not runtime-checkable: compare the signatures (mypy checks the types).
    expected = inspect.signature(getattr(MediaStore, method))
    assert inspect.signature(getattr(type(store), method)) == expected


def test_put_then_exists_and_local_path_give_it_back(store: MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"clip bytes")
    assert not store.exists(KEY)
    assert store.put_file(KEY, source) == store.uri(KEY)
    assert store.exists(KEY)
    assert not store.exists(media_key("s1", "intro", "clip", 2, "mp4"))
    local = store.local_path(KEY)
    assert local.read_bytes() == b"clip bytes"
    assert partial_files(local.parent) == []


def test_a_put_over_a_key_replaces_it_and_leaves_no_temporary_file(
    store: MediaStore, tmp_path: Path
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"v1")
    store.put_file(KEY, source)
    assert store.local_path(KEY).read_bytes() == b"v1"
    source.write_bytes(b"v2")
    store.put_file(KEY, source)
    assert store.local_path(KEY).read_bytes() == b"v2"
    assert partial_files(store.local_path(KEY).parent) == []


def test_missing_key_is_file_not_found(store: MediaStore) -> None:
    assert store.exists("scripts/nope.mp4") is False
    with pytest.raises(FileNotFoundError, match="scripts/nope.mp4"):
        store.local_path("scripts/nope.mp4")


@pytest.mark.parametrize(
    "key",
    ["../escape.mp4", "/etc/passwd", "/abs.mp4", "scripts/../../escape.mp4", "a/../../b.mp4"],
)
def test_keys_leaving_the_store_are_refused(
    store: MediaStore, backend: str, tmp_path: Path, key: str
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x")
    with pytest.raises(ValueError, match=REFUSALS[backend]):
        store.put_file(key, source)
    with pytest.raises(ValueError, match=REFUSALS[backend]):
        store.local_path(key)
    assert not (tmp_path / "escape.mp4").exists()
    assert not (tmp_path / "b.mp4").exists()
