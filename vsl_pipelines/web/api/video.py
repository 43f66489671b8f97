"""`/api/scripts/{id}/video`: the last compiled video, a file from the local store or a
redirect to a presigned URL from S3."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.access import OwnScript, Viewer
from vsl_pipelines.web.deps import ConfigDep
from vsl_pipelines.web.errors import http_errors

VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".avi": "video/x-msvideo"}

router = APIRouter()


@router.get(
    "/scripts/{script_id}/video",
    response_model=None,
    responses={
        200: {
            "description": "The video file (a local media store)",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in VIDEO_TYPES.values()
            },
        },
        307: {"description": "A redirect to its presigned S3 URL"},
    },
)
def video(
    script_id: OwnScript, actor: Viewer, config: ConfigDep
) -> FileResponse | RedirectResponse:
    """The compiled video: the file from a local store, a presigned-URL redirect from S3."""
    with http_errors(), config.db.connect() as conn:
        script_rows.script_row(conn, script_id)
        # A recompile in progress or failed leaves the last published video downloadable.
        compilation = compilation_rows.latest_compilation(conn, script_id, succeeded=True)
    if compilation is None or compilation.output_key is None:
        raise HTTPException(404, f"script {script_id!r}: not compiled yet")
    return video_download(
        config.media_store,
        compilation.output_key,
        filename_stem=script_id,
        missing=f"script {script_id!r}: compiled video",
    )


def video_download(
    store: MediaStore, key: str, *, filename_stem: str, missing: str
) -> FileResponse | RedirectResponse:
    """A compiled video as a download: the file from a local store (named `filename_stem`
    and the key's suffix), else a redirect to its URL (presigned, from S3); 404 `missing`
    when the local file is gone."""
    if not isinstance(store, LocalMediaStore):
        return RedirectResponse(store.public_url(key), status_code=307)
    try:
        path = store.local_path(key)
    except FileNotFoundError:
        raise HTTPException(404, f"{missing} {key!r} is missing") from None
    suffix = PurePosixPath(key).suffix
    return FileResponse(
        path,
        media_type=VIDEO_TYPES.get(suffix, "application/octet-stream"),
        filename=f"{filename_stem}{suffix}",
    )
