from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vsl_pipelines.storage.base import media_key
from vsl_pipelines.storage.local import LocalMediaStore

KEY = media_key("s1", "intro", "clip", 1, "mp4")


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media", "http://127.0.0.1:8000/media/")


def test_put_then_read_back(store: LocalMediaStore, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"clip bytes")
    uri = store.put_file(KEY, source)
    assert uri == str((tmp_path / "media" / KEY).resolve())
    assert store.exists(KEY)
    assert store.local_path(KEY).read_bytes() == b"clip bytes"
    assert store.public_url(KEY) == f"http://127.0.0.1:8000/media/{KEY}"


def test_atomic_put_leaves_no_temporary_file(store: LocalMediaStore, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"v1")
    store.put_file(KEY, source)
    source.write_bytes(b"v2")
    store.put_file(KEY, source)
    folder = store.local_path(KEY).parent
    assert sorted(p.name for p in folder.iterdir()) == ["clip-v1.mp4"]
    assert store.local_path(KEY).read_bytes() == b"v2"


def test_failed_put_keeps_the_old_file_and_no_partial_one(
    store: LocalMediaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"old")
    store.put_file(KEY, source)

    def copy_half_then_fail(src: str | Path, dst: str | Path) -> None:
        Path(dst).write_bytes(b"ne")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", copy_half_then_fail)
    source.write_bytes(b"new")
    with pytest.raises(OSError, match="disk full"):
        store.put_file(KEY, source)
    folder = store.local_path(KEY).parent
    assert sorted(p.name for p in folder.iterdir()) == ["clip-v1.mp4"]
    assert store.local_path(KEY).read_bytes() == b"old"


@pytest.mark.parametrize("key", ["../escape.mp4", "/etc/passwd", "scripts/../../escape.mp4"])
def test_keys_leaving_the_folder_are_refused(
    store: LocalMediaStore, tmp_path: Path, key: str
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x")
    with pytest.raises(ValueError, match="leaves the media folder"):
        store.put_file(key, source)
    with pytest.raises(ValueError, match="leaves the media folder"):
        store.local_path(key)
    assert not (tmp_path / "escape.mp4").exists()


def test_missing_key_is_file_not_found(store: LocalMediaStore) -> None:
    assert store.exists(KEY) is False
    with pytest.raises(FileNotFoundError, match=KEY):
        store.local_path(KEY)
