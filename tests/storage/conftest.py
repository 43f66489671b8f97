"""Each media store back end on a fresh place of its own: a folder, or a bucket on the moto server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vsl_pipelines.storage.base import media_key
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.storage.s3 import S3MediaStore

KEY = media_key("s1", "intro", "clip", 1, "mp4")


@pytest.fixture
def local_store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media", "http://127.0.0.1:8000/media/")


@pytest.fixture
def s3_store(s3_bucket: tuple[Any, str], tmp_path: Path) -> S3MediaStore:
    client, bucket = s3_bucket
    return S3MediaStore(
        bucket, prefix="media/", client=client, cache_dir=tmp_path / "cache", presign_ttl_s=300
    )
