"""The landing-page player, public (no sign-in; a cut's id is unguessable): `/watch/{cut}` plays
the cut's rendition that fits the viewer's screen (9:16 on a phone held upright, 1:1 in a
square frame, else the first), through the vendored hls.js or else its MP4, with its captions,
call-to-action and end action, its files at the media CDN when one serves them
(`VSL_MEDIA_CDN_URL`), else at `/watch/{cut}/files/...`, which serves the cut's own files so
the HLS playlists' relative URLs resolve beside them; `/watch/s/{link}` sends each new viewer to
one of the script's latest cuts, the same one again while its cookie lasts.
"""

from __future__ import annotations

import random
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.services.cuts import final_prefix
from vsl_pipelines.services.watch import EventSigner, WatchCut, assign_cut, watch_cut
from vsl_pipelines.storage.base import cache_control, content_type
from vsl_pipelines.web.deps import ConfigDep, check_host
from vsl_pipelines.web.media import OpenedFileResponse
from vsl_pipelines.web.review.pages import templates

# Embeddable anywhere (frame-ancestors *); scripts only this origin's (hls.js, watch.js); media
# from this origin and the blob: URLs hls.js plays through Media Source Extensions. With the
# cut's files at a media CDN, its origin too wherever the player fetches them: the poster
# (img-src), the video and its tracks (media-src), hls.js's playlists and segments (connect-src).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " media-src 'self' blob:; connect-src 'self'; frame-ancestors *; base-uri 'none';"
    " form-action 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
SPLIT_COOKIE = "vsl_split"
SPLIT_COOKIE_MAX_AGE_S = 365 * 24 * 3600
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}(/[A-Za-z0-9][A-Za-z0-9._-]{0,200})?")
NOT_FOUND = "no such video"

router = APIRouter(dependencies=[Depends(check_host)], include_in_schema=False)
_rng = random.SystemRandom()


def event_signer(request: Request) -> EventSigner:
    """The signer of event posts, from the secret the app signs sessions with."""
    secret: bytes = request.app.state.session_secret
    return EventSigner(secret)


async def _cut(config: ConfigDep, cut: str) -> WatchCut:
    found = await run_in_threadpool(watch_cut, config.db, cut)
    if found is None:
        raise HTTPException(404, NOT_FOUND)
    return found


@router.get("/watch/s/{link}", response_model=None)
async def split(request: Request, link: str, config: ConfigDep) -> Response:
    """One of the script's latest cuts, chosen once per viewer (a cookie keeps it)."""
    sticky = request.cookies.get(f"{SPLIT_COOKIE}_{link}") if len(link) <= 32 else None
    cut = await run_in_threadpool(assign_cut, config.db, link, sticky, _rng)
    if cut is None:
        raise HTTPException(404, NOT_FOUND)
    response = RedirectResponse(f"/watch/{cut}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        f"{SPLIT_COOKIE}_{link}",
        cut,
        max_age=SPLIT_COOKIE_MAX_AGE_S,
        path=f"/watch/s/{link}",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )
    return response


def page_headers(media_origin: str | None) -> dict[str, str]:
    """The page's headers; its policy admits `media_origin` (the CDN's) for the cut's files."""
    if media_origin is None:
        return PAGE_HEADERS
    policy = (
        CONTENT_SECURITY_POLICY.replace("img-src 'self'", f"img-src 'self' {media_origin}")
        .replace("media-src 'self'", f"media-src 'self' {media_origin}")
        .replace("connect-src 'self'", f"connect-src 'self' {media_origin}")
    )
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def renditions_of(found: WatchCut, base: str) -> list[dict[str, Any]]:
    """The cut's renditions as the page's script reads them (`data-renditions`): each one's
    size and URLs, the first the default; the script plays the one that fits the screen."""

    def url(name: str | None) -> str | None:
        return f"{base}/{name}" if name else None

    return [
        {
            "aspect": r.aspect,
            "width": r.width,
            "height": r.height,
            "mp4": url(r.video),
            "hls": url(r.hls),
            "poster": url(r.poster),
            "captions": url(r.captions),
            "chapters": url(r.chapters),
        }
        for r in found.renditions
    ]


@router.get("/watch/{cut}", response_class=HTMLResponse)
async def watch(request: Request, cut: str, config: ConfigDep) -> HTMLResponse:
    """The player page of one cut, with its renditions (the page's script picks the one that
    fits the viewer's screen) and the signature its event posts carry."""
    found = await _cut(config, cut)
    cdn = config.media_store.cdn_base(final_prefix(found.script_id))
    base = cdn or f"/watch/{found.public_id}/files"
    html = templates.get_template("watch.html").render(
        cut=found,
        files=base,
        renditions=renditions_of(found, base),
        signature=event_signer(request).signature(found.public_id),
        static="/studio/static",
    )
    return HTMLResponse(html, headers=page_headers(origin_of(cdn) if cdn else None))


@router.api_route("/watch/{cut}/files/{name:path}", methods=["GET", "HEAD"], response_model=None)
async def cut_file(cut: str, name: str, config: ConfigDep) -> Response:
    """A file of the cut (its video, captions, chapters, poster, HLS playlists and segments),
    with the type and cache headers the store gives it (final objects: immutable)."""
    found = await _cut(config, cut)
    if not FILE_NAME.fullmatch(name) or ".." in name or not found.serves(name):
        raise HTTPException(404, NOT_FOUND)
    key = f"{final_prefix(found.script_id)}/{name}"
    try:
        path = await run_in_threadpool(config.media_store.local_path, key)
    except (FileNotFoundError, ValueError):
        raise HTTPException(404, NOT_FOUND) from None
    cache = cache_control(key)
    response = OpenedFileResponse.open(
        path, content_type(key), {"Cache-Control": cache} if cache else None
    )
    if response is None:
        raise HTTPException(404, NOT_FOUND)
    return response


WatchSigner = Annotated[EventSigner, Depends(event_signer)]
