"""What the local-folder store alone does: file paths and URLs under the service's base URL, and
a failed write that leaves the old file; its contract with S3 is in `test_base.py`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.storage.conftest import KEY
from vsl_pipelines.storage.local import LocalMediaStore


def test_uri_is_the_file_and_public_url_is_under_the_base_url(
    local_store: LocalMediaStore, tmp_path: Path
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"clip bytes")
    uri = local_store.put_file(KEY, source)
    assert uri == str((tmp_path / "media" / KEY).resolve())
    assert local_store.local_path(KEY) == tmp_path.resolve() / "media" / KEY
    assert local_store.public_url(KEY) == f"http://127.0.0.1:8000/media/{KEY}"


def test_failed_put_keeps_the_old_file_and_no_partial_one(
    local_store: LocalMediaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"old")
    local_store.put_file(KEY, source)

    def copy_half_then_fail(src: str | Path, dst: str | Path) -> None:
        Path(dst).write_bytes(b"ne")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", copy_half_then_fail)
    source.write_bytes(b"new")
    with pytest.raises(OSError, match="disk full"):
        local_store.put_file(KEY, source)
    folder = local_store.local_path(KEY).parent
    assert sorted(p.name for p in folder.iterdir()) == ["clip-v1.mp4"]
    assert local_store.local_path(KEY).read_bytes() == b"old"
