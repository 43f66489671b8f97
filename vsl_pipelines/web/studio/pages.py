"""The studio's HTML: Jinja2 templates under `web/templates/studio/` (sharing `base.html` with
the review page, every value autoescaped), the headers each page goes out with, and refusals
answered as pages (a page that needs a session sends the browser to sign in).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from vsl_pipelines.domain.script import MAX_NARRATION_CHARS, MAX_TITLE_CHARS
from vsl_pipelines.web.review.pages import templates
from vsl_pipelines.web.studio import forms, session

# Scripts only from this origin (htmx and the studio's own file), never inline; forms post only
# here; never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline';"
    " media-src 'self' http: https:; img-src 'self' http: https:; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}
STUDIO = "/studio"

templates.globals["studio"] = {
    "visuals": forms.VISUALS,
    "formats": forms.OUTPUT_FORMATS,
    "sizes": forms.SIZES,
    "transitions": forms.TRANSITIONS,
    "transition_label": forms.transition_label,
    "fits": forms.FITS,
    "clip_audio": forms.CLIP_AUDIO,
    "timing": forms.TIMING_DEFAULTS,
    "max_title": MAX_TITLE_CHARS,
    "max_narration": MAX_NARRATION_CHARS,
}


def page(name: str, request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A studio template rendered with the session (for the forms' token) and the path."""
    html = templates.get_template(f"studio/{name}").render(
        session=getattr(request.state, "studio_session", None),
        page_path=STUDIO,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def error_page(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 401 and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{STUDIO}/sign-in?{urlencode({'next': target})}", status_code=303)
    response = page(
        "error.html",
        request,
        status_code=exc.status_code,
        status=exc.status_code,
        message=str(exc.detail),
    )
    response.headers.update(exc.headers or {})
    return response


class StudioRoute(APIRoute):
    """A route whose refusals answer as pages, and which sends a new local session's cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                response = error_page(request, exc)
            issue = getattr(request.state, "studio_issue", None)
            if issue is not None:
                session.set_cookie(response, request, issue)
            return response

        return handle
