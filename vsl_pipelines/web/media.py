"""`GET /media/{key}`: the local media folder, for the generation backend fetching its inputs by
URL and for the pages' players; a file server, not part of the API document. With a signer
(`VSL_MEDIA_SECRET`), only the signed URLs the API and the studio hand out open a file (403
without a signature, past its age, or with another file's).

The folder comes from the app's state (None: no local folder). Each file is opened once, before
any header goes out, and sent from that open file, Range requests included, with the type and
cache headers S3 gives the same key (`storage.base.content_type`, `cache_control`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import Receive, Scope, Send

from vsl_pipelines.storage.base import cache_control, content_type
from vsl_pipelines.storage.signing import MediaUrlSigner

MAX_MEDIA_KEY_CHARS = 1024
MAX_MEDIA_SEGMENT_BYTES = 255  # a file name on every file system we run on

router = APIRouter()


@router.api_route(
    "/media/{key:path}", methods=["GET", "HEAD"], response_model=None, include_in_schema=False
)
async def media(request: Request, key: str) -> FileResponse | JSONResponse:
    """A file of the local media folder, streamed (generation inputs are fetched by URL)."""
    media_root: Path | None = request.app.state.media_root
    if media_root is None:
        return JSONResponse({"detail": "no local media folder"}, status_code=404)
    signer: MediaUrlSigner | None = request.app.state.media_signer
    if signer is not None:
        problem = signer.problem(key, request.query_params.get("sig"))
        if problem is not None:
            return JSONResponse({"detail": problem}, status_code=403)
    path = resolve_media_path(media_root, key)
    if path is None:
        return JSONResponse({"detail": "invalid media key"}, status_code=400)
    try:
        found = path.is_file()
    except OSError:  # e.g. a name the file system cannot hold
        return JSONResponse({"detail": "invalid media key"}, status_code=400)
    cache = cache_control(key)
    headers = {"Cache-Control": cache} if cache else None
    response = OpenedFileResponse.open(path, content_type(key), headers) if found else None
    if response is None:  # none, or removed since `is_file`
        return JSONResponse({"detail": "media not found"}, status_code=404)
    return response


def resolve_media_path(media_root: Path, key: str) -> Path | None:
    """The file for `key` inside `media_root`, or None if the key could leave the folder or
    could not name a file (too long, control characters)."""
    if not key or len(key) > MAX_MEDIA_KEY_CHARS or "\\" in key or not key.isprintable():
        return None
    if any(
        len(part.encode("utf-8", "surrogatepass")) > MAX_MEDIA_SEGMENT_BYTES
        for part in key.split("/")
    ):
        return None
    relative = PurePosixPath(key)
    if relative.is_absolute() or any(part in ("..", ".") for part in key.split("/")):
        return None
    root = media_root.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


class OpenedFileResponse(FileResponse):
    """Starlette's `FileResponse` (its headers, Range, If-Range, HEAD) sent from a file opened
    once, before any header goes out. By path, `FileResponse` stats the file, sends the headers,
    then opens it; the store replaces files whole and expiry deletes them at any moment, so a
    file removed in between was an ASGI exception mid-response, one replaced a body of another
    length. An open file outlives both. Relies on `FileResponse` reading through `_open_file`
    (tests/web/test_media.py fails if an upgrade changes that)."""

    def __init__(
        self,
        path: Path,
        file: BinaryIO,
        stat_result: os.stat_result,
        media_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(path, stat_result=stat_result, media_type=media_type, headers=headers)
        self.file = file

    @classmethod
    def open(
        cls, path: Path, media_type: str | None = None, headers: dict[str, str] | None = None
    ) -> OpenedFileResponse | None:
        """The response for the regular file at `path` (of `media_type`, with `headers`), or
        None when there is none now."""
        try:
            file = path.open("rb")
        except OSError:
            return None
        stat_result = os.fstat(file.fileno())
        if not stat.S_ISREG(stat_result.st_mode):
            file.close()
            return None
        return cls(path, file, stat_result, media_type, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "http.response.pathsend" in scope.get("extensions", {}):
            # Not offered to the server by path: it would open the path again.
            extensions = dict(scope["extensions"])
            del extensions["http.response.pathsend"]
            scope = {**scope, "extensions": extensions}
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.file.close()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        yield anyio.wrap_file(self.file)
