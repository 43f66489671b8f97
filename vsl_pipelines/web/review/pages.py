"""The review page's HTML: Jinja2 templates from `web/templates/`, every value autoescaped, and
the headers each page goes out with. Refusals (`HTTPException`) are answered as pages too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import NoMatchFound

from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.script import (
    MAX_NARRATION_CHARS,
    MAX_NOTE_CHARS,
    MAX_PROMPT_CHARS,
    section_label,
)
from vsl_pipelines.web.review import csrf
from vsl_pipelines.web.review.forms import FORM_TYPE
from vsl_pipelines.web.review.views import ReviewPage

# The page's forms post only to this origin and it is never framed (no clickjacked clicks).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; media-src 'self' http: https:;"
    " img-src 'self' http: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("vsl_pipelines.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["path_segment"] = partial(quote, safe="")
templates.filters["usd"] = usd_text
templates.filters["section_label"] = section_label
templates.globals["limits"] = {
    "note": MAX_NOTE_CHARS,
    "prompt": MAX_PROMPT_CHARS,
    "narration": MAX_NARRATION_CHARS,
}


def _form_schema(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    properties = {csrf.FIELD: {"type": "string"}, "view": {"type": "string"}, **fields}
    return {
        "requestBody": {
            "required": True,
            "content": {
                FORM_TYPE: {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": [csrf.FIELD],
                        "additionalProperties": False,
                    }
                }
            },
        }
    }


# The forms as the OpenAPI document describes them (`openapi_extra` of the post routes).
_SUBJECT = {"type": "string", "enum": ["clip", "narration"]}
DECISION_FORMS = {
    "approve": _form_schema({"subject": _SUBJECT, "note": {"type": "string"}}),
    "reject": _form_schema(
        {
            "subject": _SUBJECT,
            "note": {"type": "string"},
            "prompt": {"type": "string"},
            "seed": {"type": "string"},
            "text": {"type": "string"},
            "voice": {"type": "string"},
            "speed": {"type": "string"},
        }
    ),
}


def review_response(page: ReviewPage, page_path: str, csrf_token: str) -> HTMLResponse:
    """The takes waiting for a decision, with their clips and forms (each with the token)."""
    html = templates.get_template("review.html").render(
        page=page, page_path=page_path, csrf_token=csrf_token
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


def error_response(exc: HTTPException, page_path: str) -> HTMLResponse:
    """A refusal as a page: its status, its words and a way back (plus e.g. an auth challenge)."""
    html = templates.get_template("error.html").render(
        status_code=exc.status_code, message=str(exc.detail), page_path=page_path
    )
    return HTMLResponse(
        html, status_code=exc.status_code, headers={**PAGE_HEADERS, **(exc.headers or {})}
    )


def page_path(request: Request) -> str:
    """Where the review page is mounted (`/review` unless the app mounts it elsewhere)."""
    try:
        return request.url_for("review_page").path
    except (NoMatchFound, KeyError):  # no route table in scope: mounted some other way
        return "/review"


class ReviewPageRoute(APIRoute):
    """A route whose `HTTPException`s (from its dependencies too) answer as HTML, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return error_response(exc, page_path(request))

        return handle
