"""The studio's publishing of a script: beside the final video, every cut of the latest
compilation (one per combination of hook variants) with its renditions (aspect, size, a
download), its delivery files (HLS master, poster, captions, chapters), its watch link and
embed snippet, and the script's split link (`/studio/scripts/{id}/publish`, a fragment the
script page loads); and the variant report (`/studio/scripts/{id}/variants`): retention per
cut as a chart and the numbers of `GET /api/scripts/{id}/variants` as a table (viewers and
above, their workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.cut_files import CutFiles, cut_files
from vsl_pipelines.services.cuts import final_prefix
from vsl_pipelines.services.watch import latest_cuts, publication, script_report
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.access import require_role, require_script
from vsl_pipelines.web.deps import ConfigDep, ScriptId, check_host
from vsl_pipelines.web.studio import charts
from vsl_pipelines.web.studio.pages import StudioRoute, page
from vsl_pipelines.web.studio.routes import Session

router = APIRouter(
    route_class=StudioRoute, dependencies=[Depends(check_host)], include_in_schema=False
)


def embed_snippet(watch_url: str, title: str, aspect: str = "16:9") -> str:
    """The HTML a marketer pastes into a landing page: the player in a frame of the aspect its
    page plays (the cut's first rendition; 16:9 when it is not a W:H)."""
    safe_title = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    width, _, height = aspect.partition(":")
    ratio = int(height) / int(width) if width.isdigit() and height.isdigit() and int(width) else 0
    padding = f"{100 * (ratio or 9 / 16):.2f}".rstrip("0").rstrip(".")
    return (
        f'<div style="position:relative;padding-top:{padding}%">'
        f'<iframe src="{watch_url}" title="{safe_title}" allow="autoplay; fullscreen"'
        ' allowfullscreen loading="lazy" style="position:absolute;inset:0;width:100%;'
        'height:100%;border:0"></iframe></div>'
    )


@dataclass(frozen=True)
class Link:
    """A file to open or download: what it is, its URL, and figures (size, length)."""

    label: str
    url: str
    detail: str = ""
    download: bool = False


@dataclass(frozen=True)
class PublishedCut:
    """A cut as the publish fragment shows it."""

    public_id: str
    variant: str
    watch_url: str
    snippet: str
    video_url: str | None
    renditions: list[Link]
    delivery: list[Link]


def _megabytes(size: int | None) -> str:
    return f"{size / 1_000_000:.1f} MB" if size is not None else ""


def _cut_view(
    origin: str, public_id: str, files: CutFiles, script_id: str, store: MediaStore
) -> PublishedCut:
    """A cut's links: each rendition's media URL (presigned on S3) to download; the HLS master
    through the watch page's files (so its playlists' relative URLs resolve from any store),
    the other delivery files by their media URLs."""
    watch_url = f"{origin}/watch/{public_id}"
    prefix = f"{final_prefix(script_id)}/"

    def hls_url(key: str) -> str:
        served = key.startswith(prefix) and key == files.delivery.hls
        return f"{watch_url}/files/{key[len(prefix) :]}" if served else store.public_url(key)

    renditions = []
    for r in files.renditions:
        figures = [
            f"{r.width}x{r.height}" if r.width and r.height else "",
            f"{r.duration_s:.1f} s" if r.duration_s is not None else "",
            _megabytes(r.size_bytes),
        ]
        renditions.append(
            Link(r.aspect, store.public_url(r.key), " · ".join(f for f in figures if f), True)
        )
        if r.hls:
            renditions.append(Link(f"{r.aspect} HLS master", hls_url(r.hls)))
        if r.poster:
            renditions.append(Link(f"{r.aspect} poster", store.public_url(r.poster)))
    found = files.delivery
    delivery = [
        *([Link("HLS master playlist", hls_url(found.hls))] if found.hls else []),
        *([Link("Poster", store.public_url(found.poster))] if found.poster else []),
        *(
            Link(f"Captions ({fmt.upper()})", store.public_url(key))
            for fmt, key in sorted(found.captions.items())
        ),
        *([Link("Chapters (WebVTT)", store.public_url(found.chapters))] if found.chapters else []),
    ]
    return PublishedCut(
        public_id=public_id,
        variant=files.variant,
        watch_url=watch_url,
        snippet=embed_snippet(
            watch_url, script_id, files.renditions[0].aspect if files.renditions else "16:9"
        ),
        video_url=store.public_url(files.video) if files.video else None,
        renditions=renditions,
        delivery=delivery,
    )


def published_cuts(
    db: Database, store: MediaStore, script_id: str, origin: str
) -> tuple[list[PublishedCut], str | None]:
    """Every cut of the script's latest published compilation, and the split link's URL."""
    found = publication(db, script_id)
    if found is None:
        return [], None
    cuts = [
        _cut_view(
            origin,
            cut.public_id,
            cut_files(cut.plan, cut.output_key, cut.variant),
            script_id,
            store,
        )
        for cut in latest_cuts(db, script_id)
    ]
    return cuts, f"{origin}/watch/s/{found.split_link}"


@router.get("/scripts/{script_id}/publish", response_class=HTMLResponse)
async def publish(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """Every cut of the script's latest compilation (renditions, delivery files, watch link,
    embed snippet) and the split link."""
    require_role(user.actor, Role.VIEWER)
    await run_in_threadpool(require_script, config.db, user.actor, script_id)
    origin = f"{request.url.scheme}://{request.url.netloc}"
    cuts, split_url = await run_in_threadpool(
        published_cuts, config.db, config.media_store, script_id, origin
    )
    return page("publish.html", request, script_id=script_id, cuts=cuts, split_url=split_url)


@router.get("/scripts/{script_id}/variants", response_class=HTMLResponse)
async def variants(
    request: Request, user: Session, script_id: ScriptId, config: ConfigDep
) -> HTMLResponse:
    """Which hook wins: the script's cuts, their retention and P(best)."""
    require_role(user.actor, Role.VIEWER)
    await run_in_threadpool(require_script, config.db, user.actor, script_id)
    report = await run_in_threadpool(
        script_report, config.db, script_id, min_viewers=config.variant_min_viewers
    )
    return page(
        "variants.html",
        request,
        script_id=script_id,
        report=report,
        chart=charts.retention_by_cut(report),
    )
