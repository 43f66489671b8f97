from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from vsl_pipelines.web.media import OpenedFileResponse, resolve_media_path
from vsl_pipelines.web.server import RunningService

SECRET_TEXT = b"outside the media folder"
KEYFRAME_KEY = "scripts/s1/intro/keyframe-v1.png"


@pytest.fixture
def keyframe(service_media_root: Path) -> bytes:
    content = b"\x89PNG\r\n\x1a\n" + os.urandom(256 * 1024)
    path = service_media_root / "scripts" / "s1" / "intro" / "keyframe-v1.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    (service_media_root.parent / "outside.txt").write_bytes(SECRET_TEXT)
    return content


def raw_get(service: RunningService, target: str) -> tuple[int, bytes]:
    """Send the request target exactly as written (clients normalize `..` away)."""
    parts = urlsplit(service.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_serves_a_media_file(webhook_service: RunningService, keyframe: bytes) -> None:
    url = webhook_service.url + "/media/scripts/s1/intro/keyframe-v1.png"
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == keyframe
    assert response.headers["content-type"] == "image/png"


def test_head_answers_headers_only(webhook_service: RunningService, keyframe: bytes) -> None:
    url = webhook_service.url + "/media/scripts/s1/intro/keyframe-v1.png"
    response = httpx.head(url, timeout=10)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(keyframe)
    assert response.content == b""


@pytest.mark.parametrize(
    ("ranges", "start", "end"),
    [("bytes=1000-1999", 1000, 2000), ("bytes=100000-", 100000, None), ("bytes=-500", -500, None)],
)
def test_a_range_request_answers_206_with_those_bytes(
    webhook_service: RunningService, keyframe: bytes, ranges: str, start: int, end: int | None
) -> None:
    """Browsers' <video> seeks with Range requests."""
    url = f"{webhook_service.url}/media/{KEYFRAME_KEY}"
    response = httpx.get(url, headers={"Range": ranges}, timeout=10)
    assert response.status_code == 206
    expected = keyframe[start:end]
    first = start % len(keyframe)
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(keyframe)}"
    )
    assert response.content == expected


def test_several_ranges_answer_206_multipart(
    webhook_service: RunningService, keyframe: bytes
) -> None:
    url = f"{webhook_service.url}/media/{KEYFRAME_KEY}"
    response = httpx.get(url, headers={"Range": "bytes=0-9,70000-70009"}, timeout=10)
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert keyframe[0:10] in response.content and keyframe[70000:70010] in response.content


def test_a_file_removed_between_the_check_and_the_open_is_404(
    webhook_service: RunningService,
    keyframe: bytes,
    service_media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store replaces files and expiry removes them at any moment: a file gone once the
    route saw it is not found, never an ASGI exception (tests/fixtures/asgi_errors.py)."""
    target = (service_media_root / KEYFRAME_KEY).resolve()
    look = Path.is_file

    def look_then_remove(path: Path) -> bool:
        found = look(path)
        if path == target:
            path.unlink()
        return found

    monkeypatch.setattr(Path, "is_file", look_then_remove)
    response = httpx.get(f"{webhook_service.url}/media/{KEYFRAME_KEY}", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"detail": "media not found"}


@pytest.mark.parametrize(("ranges", "status"), [(None, 200), ("bytes=5000-", 206)])
def test_a_file_removed_once_opened_is_sent_whole(
    webhook_service: RunningService,
    keyframe: bytes,
    service_media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    ranges: str | None,
    status: int,
) -> None:
    """Removed after the open, before a header went out (where `FileResponse` by path would
    open it): the open file is sent, with the length its headers announced."""
    opened = OpenedFileResponse.open

    def open_then_remove(path: Path, *how: Any) -> OpenedFileResponse | None:
        response = opened(path, *how)
        path.unlink()
        return response

    monkeypatch.setattr(OpenedFileResponse, "open", open_then_remove)
    headers = {"Range": ranges} if ranges else {}
    url = f"{webhook_service.url}/media/{KEYFRAME_KEY}"
    response = httpx.get(url, headers=headers, timeout=10)
    assert not (service_media_root / KEYFRAME_KEY).exists()
    assert response.status_code == status
    expected = keyframe[5000:] if ranges else keyframe
    assert int(response.headers["content-length"]) == len(expected)
    assert response.content == expected


@pytest.mark.parametrize("key", ["scripts/s1/missing.png", "scripts/s1", "nothing"])
def test_missing_media_is_404(webhook_service: RunningService, keyframe: bytes, key: str) -> None:
    assert httpx.get(f"{webhook_service.url}/media/{key}", timeout=10).status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "/media/../outside.txt",
        "/media/scripts/../../outside.txt",
        "/media/%2e%2e/outside.txt",
        "/media/scripts%2f..%2f..%2foutside.txt",
        "/media/%2Ftmp%2Foutside.txt",
        "/media//etc/passwd",
        "/media/..%5coutside.txt",
    ],
)
def test_path_traversal_is_refused(
    webhook_service: RunningService, keyframe: bytes, target: str
) -> None:
    status, body = raw_get(webhook_service, target)
    assert status in (400, 404)
    assert SECRET_TEXT not in body
    assert b"root:" not in body


def test_symlink_leaving_the_folder_is_refused(service_media_root: Path, keyframe: bytes) -> None:
    (service_media_root / "link.txt").symlink_to(service_media_root.parent / "outside.txt")
    assert resolve_media_path(service_media_root, "link.txt") is None
    inside = resolve_media_path(service_media_root, "scripts/s1/intro/keyframe-v1.png")
    assert inside is not None and inside.read_bytes() == keyframe


@pytest.mark.parametrize(
    "key",
    [
        "m" * 300,  # a file name longer than the file system takes (ENAMETOOLONG before)
        "scripts/" + "é" * 200,  # 400 bytes in one segment
        "a/" * 600,  # a key over 1,024 characters
        "scripts/tab%09name.mp4",
        "scripts/bell%07.mp4",
    ],
)
def test_keys_that_cannot_name_a_file_are_400(webhook_service: RunningService, key: str) -> None:
    response = httpx.get(f"{webhook_service.url}/media/{key}")
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid media key"}


def test_final_files_are_served_with_their_type_and_a_year_of_cache(
    webhook_service: RunningService, service_media_root: Path, keyframe: bytes
) -> None:
    folder = service_media_root / "scripts" / "s1" / "final"
    folder.mkdir(parents=True)
    (folder / "s1-c3-chapters.vtt").write_text("WEBVTT\n")
    response = httpx.get(webhook_service.url + "/media/scripts/s1/final/s1-c3-chapters.vtt")
    assert response.headers["content-type"] == "text/vtt; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    take = httpx.get(webhook_service.url + "/media/" + KEYFRAME_KEY)
    assert "cache-control" not in take.headers
