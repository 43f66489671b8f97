"""The reviewers' page under `/review`: the takes waiting for a decision, each clip playable, and
plain HTML forms to approve or reject it (a rejection may carry a new prompt, seed and note).

Same access rule and the same `record_decision` as `/api`; the approval sensor acts on the rows.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import NoMatchFound

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.connection import Conn, connect
from vsl_pipelines.db.scripts import ScriptNotFound
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.api import (
    ApiConfig,
    ApiError,
    ApproveBody,
    RejectBody,
    check_access,
    record_decision,
    validation_problems,
)

log = get_logger("vsl_pipelines.web.review_page")

BASIC_CHALLENGE = 'Basic realm="VSL review"'
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384
MAX_FORM_FIELDS = 16
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
# The page's forms post only to this origin and it is never framed (no clickjacked clicks).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; media-src 'self' http: https:;"
    " img-src 'self' http: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}


class PageError(Exception):
    """A refusal shown to the reviewer as an HTML page with `status_code`."""

    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


class ReviewPageRoute(APIRoute):
    """A route whose `PageError`s (from its dependencies too) answer as HTML, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PageError as exc:
                return HTMLResponse(
                    render_error_page(exc.status_code, exc.message, _page_path(request)),
                    status_code=exc.status_code,
                    headers={**PAGE_HEADERS, **exc.headers},
                )

        return handle


@dataclass(frozen=True)
class WaitingTake:
    """A section's current take with a clip and no decision, with what the reviewer needs."""

    script_id: str
    title: str
    section_id: str
    take: int
    narration: str
    prompt: str | None
    seed: int | None
    clip_key: str
    thumbnail_key: str | None
    duration_s: float | None
    previous_note: str | None = None


def waiting_takes(conn: Conn, script_id: str | None = None) -> list[WaitingTake]:
    """`review_queue` plus each script's title, the take's prompt and seed, the previous note."""
    queue = review_queue(conn, script_id)
    titles = {r["id"]: r["title"] for r in script_rows.list_scripts(conn)}
    queued_scripts = list(dict.fromkeys(item["script"] for item in queue))
    sections = {
        (sid, s["id"]): s for sid in queued_scripts for s in script_rows.sections_of(conn, sid)
    }
    decisions = {
        (sid, section_id, take): row
        for sid in queued_scripts
        for (section_id, take), row in approval_rows.latest_decisions(conn, sid).items()
    }
    takes = []
    for item in queue:
        section = sections[(item["script"], item["section"])]
        overrides = section["overrides"] or {}
        previous = decisions.get((item["script"], item["section"], item["take"] - 1), {})
        takes.append(
            WaitingTake(
                script_id=item["script"],
                title=titles.get(item["script"], ""),
                section_id=item["section"],
                take=item["take"],
                narration=item["narration"],
                prompt=overrides.get("prompt") or section_prompt(section["spec"]),
                seed=overrides.get("seed"),
                clip_key=item["clip"],
                thumbnail_key=item["thumbnail"],
                duration_s=item["duration_s"],
                previous_note=previous.get("note"),
            )
        )
    return takes


def section_prompt(spec: dict[str, Any]) -> str | None:
    """The prompt a section's picture starts from: its keyframe's, else its clip's."""
    for stage in ("keyframe", "clip"):
        generation = spec.get(stage) or {}
        if generation.get("prompt"):
            return str(generation["prompt"])
    return None


def parse_form(raw: bytes) -> dict[str, str]:
    """The fields of an urlencoded body, each stripped; empty fields count as not given."""
    try:
        parsed = parse_qs(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise PageError(422, "form: not valid UTF-8 text") from None
    except ValueError:
        raise PageError(422, f"form: more than {MAX_FORM_FIELDS} fields") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise PageError(422, f"form: {', '.join(repeated)} given more than once")
    return {name: values[0].strip() for name, values in parsed.items() if values[0].strip()}


def validate_decision(fields: dict[str, str], model: type[BaseModel]) -> BaseModel:
    """The form's fields as the API's decision body; 422 names each invalid field."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise PageError(422, f"form: {validation_problems(exc, 'form')}") from None


def origin_matches_host(origin: str, host: str) -> bool:
    """Whether an `Origin` header names the same host and port as the request's `Host`."""
    sent_from = urlsplit(origin)
    sent_to = urlsplit(f"//{host}")
    if sent_from.scheme not in ("http", "https") or not sent_from.hostname or not sent_to.hostname:
        return False
    default_port = 443 if sent_from.scheme == "https" else 80
    try:
        return (sent_from.hostname, sent_from.port or default_port) == (
            sent_to.hostname,
            sent_to.port or default_port,
        )
    except ValueError:  # a port that is not a number
        return False


# -- HTML -------------------------------------------------------------------------------------

STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f5f4;color:#1c1917}
header{background:#1c1917;color:#fafaf9;padding:.8rem 1.5rem;display:flex;gap:1rem}
header *{align-self:baseline}
header h1{font-size:1.2rem;margin:0}
header a{color:#d6d3d1}
main{max-width:60rem;margin:0 auto;padding:1.5rem}
.take{background:#fff;border-radius:.6rem;box-shadow:0 1px 3px #0002;padding:1rem 1.25rem}
.take{margin-bottom:1.5rem}
.take h2{margin:.2rem 0;font-size:1.15rem}
.meta{color:#57534e;font-size:.9rem;margin:0}
blockquote{margin:.6rem 0;padding-left:.8rem;border-left:3px solid #d6d3d1}
video{display:block;width:100%;max-height:28rem;background:#000;border-radius:.4rem;margin:.6rem 0}
.decisions{display:flex;gap:1rem;flex-wrap:wrap}
form{flex:1 1 16rem;border:1px solid #e7e5e4;border-radius:.4rem;padding:.75rem}
label{display:block;font-size:.85rem;color:#44403c;margin:.4rem 0 .1rem}
input,textarea{width:100%;box-sizing:border-box;font:inherit;padding:.3rem}
button{margin-top:.6rem;font:inherit;padding:.4rem 1rem;border:0;border-radius:.3rem}
button{color:#fff;cursor:pointer}
.approve button{background:#15803d}
.reject button{background:#b91c1c}
.notice,.error{padding:.6rem 1rem;border-radius:.3rem;margin-bottom:1rem}
.notice{background:#dcfce7;border-left:4px solid #15803d}
.error{background:#fee2e2;border-left:4px solid #b91c1c}
.empty{color:#57534e;font-size:1.1rem}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_layout(title: str, page_path: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n"
        f'<body><header><h1>VSL review</h1><a href="{_e(page_path)}">all waiting takes</a>'
        f"</header>\n<main>\n{body}\n</main></body></html>\n"
    )


def render_review_page(
    takes: list[WaitingTake],
    store: MediaStore,
    page_path: str,
    *,
    view_script: str | None,
    done: str | None,
) -> str:
    """The list of waiting takes with a confirmation of the last decision, if any."""
    heading = f"Script {view_script}" if view_script else "All scripts"
    count = f"{len(takes)} take{'s' if len(takes) != 1 else ''} waiting for a decision"
    parts = [f"<h2>{_e(heading)}</h2>", f'<p class="meta">{_e(count)}</p>']
    notice = render_done_notice(done)
    if notice:
        parts.insert(0, notice)
    if not takes:
        parts.append('<p class="empty">Nothing is waiting for review. Good work!</p>')
    parts.extend(render_take(t, store, page_path, view_script) for t in takes)
    return render_layout(f"VSL review: {heading}", page_path, "\n".join(parts))


def render_done_notice(done: str | None) -> str:
    """`?done=approved:SCRIPT/SECTION` (set by the redirect after a decision) as a notice."""
    decision, _, target = (done or "").partition(":")
    if decision == "approved" and target:
        return f'<p class="notice">Approved {_e(target)}.</p>'
    if decision == "rejected" and target:
        return f'<p class="notice">Rejected {_e(target)}; a new take will be generated.</p>'
    return ""


def render_take(take: WaitingTake, store: MediaStore, page_path: str, view: str | None) -> str:
    poster = f' poster="{_e(store.public_url(take.thumbnail_key))}"' if take.thumbnail_key else ""
    duration = f" · {take.duration_s:.1f} s" if take.duration_s is not None else ""
    prompt = f"<p><strong>Prompt:</strong> {_e(take.prompt)}</p>" if take.prompt else ""
    seed = f"<p><strong>Seed:</strong> {_e(take.seed)}</p>" if take.seed is not None else ""
    previous = (
        f"<p><strong>Note on take {take.take - 1}:</strong> {_e(take.previous_note)}</p>"
        if take.previous_note
        else ""
    )
    action = f"{page_path}/{quote(take.script_id, safe='')}/{quote(take.section_id, safe='')}"
    view_field = f'<input type="hidden" name="view" value="{_e(view)}">' if view else ""
    return f"""<section class="take">
<p class="meta">{_e(take.script_id)} · {_e(take.title)}</p>
<h2>Section {_e(take.section_id)} · take {_e(take.take)}{_e(duration)}</h2>
<blockquote>{_e(take.narration)}</blockquote>
{prompt}{seed}{previous}
<video controls preload="metadata" src="{_e(store.public_url(take.clip_key))}"{poster}></video>
<div class="decisions">
<form class="approve" method="post" action="{_e(action)}/approve">{view_field}
<label>Note (optional)<input name="note" maxlength="2000"></label>
<button type="submit">Approve</button>
</form>
<form class="reject" method="post" action="{_e(action)}/reject">{view_field}
<label>Note (optional)<input name="note" maxlength="2000"></label>
<label>New prompt (optional)<textarea name="prompt" rows="2" maxlength="4000"></textarea></label>
<label>Seed (optional)<input name="seed" type="number" min="0" max="2147483647"></label>
<button type="submit">Reject</button>
</form>
</div>
</section>"""


def render_error_page(status_code: int, message: str, page_path: str) -> str:
    body = (
        f'<p class="error"><strong>{_e(status_code)}</strong> {_e(message)}</p>'
        f'<p><a href="{_e(page_path)}">Back to the takes waiting for review</a></p>'
    )
    return render_layout(f"VSL review: error {status_code}", page_path, body)


# -- routes -----------------------------------------------------------------------------------


def create_review_router(config: ApiConfig) -> APIRouter:
    """The `/review` page and its form posts on `config`'s database and media store."""
    router = APIRouter(
        route_class=ReviewPageRoute, dependencies=[Depends(_access_check(config.api_key))]
    )
    database_url = config.database_url

    @router.get("", response_class=HTMLResponse, name="review_page")
    def review_page(
        request: Request, script: str | None = None, done: str | None = None
    ) -> HTMLResponse:
        """The takes waiting for a decision (of one script with `?script=`)."""
        with connect(database_url) as conn:
            try:
                takes = waiting_takes(conn, script or None)
            except ScriptNotFound as exc:
                raise PageError(404, str(exc)) from None
        page = render_review_page(
            takes, config.media_store, _page_path(request), view_script=script or None, done=done
        )
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.post("/{script_id}/{section_id}/approve", dependencies=[Depends(_same_origin_check)])
    async def approve(script_id: str, section_id: str, request: Request) -> RedirectResponse:
        """Approve the section's current take, then back to the page."""
        return await _decide(request, script_id, section_id, "approved", ApproveBody)

    @router.post("/{script_id}/{section_id}/reject", dependencies=[Depends(_same_origin_check)])
    async def reject(script_id: str, section_id: str, request: Request) -> RedirectResponse:
        """Reject the section's current take (a new take follows), then back to the page."""
        return await _decide(request, script_id, section_id, "rejected", RejectBody)

    async def _decide(
        request: Request, script_id: str, section_id: str, decision: str, model: type[BaseModel]
    ) -> RedirectResponse:
        fields = parse_form(await _read_form_body(request))
        view = fields.pop("view", None)
        body = validate_decision(fields, model)
        values = body.model_dump()

        def record() -> dict[str, Any]:
            return record_decision(
                database_url, script_id, section_id, decision, reviewer="review page", **values
            )

        try:
            result = await run_in_threadpool(record)
        except ApiError as exc:
            raise PageError(exc.status_code, exc.detail) from None
        log.info(
            "review page %s",
            decision,
            extra={"script_id": script_id, "section_id": section_id, "take": result["take"]},
        )
        query = {"done": f"{decision}:{script_id}/{section_id}"}
        if view:
            query["script"] = view
        return RedirectResponse(f"{_page_path(request)}?{urlencode(query)}", status_code=303)

    return router


def _page_path(request: Request) -> str:
    try:
        return request.url_for("review_page").path
    except (NoMatchFound, KeyError):  # no route table in scope: mounted some other way
        return "/review"


async def _read_form_body(request: Request) -> bytes:
    """The urlencoded body, refused past `MAX_FORM_BYTES` before all of it is read."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ("", FORM_TYPE):  # a bare post is an empty form, as in the API
        raise PageError(415, f"content type {media_type!r}; send {FORM_TYPE}")
    too_large = PageError(413, f"form: larger than {MAX_FORM_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise too_large
    return bytes(body)


def _access_check(api_key: SecretStr | None) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        """The API's rule; with a key, browsers may send it as the HTTP Basic password."""
        try:
            check_access(request, api_key, service="the review page", accept_basic=True)
        except ApiError as exc:
            challenge = {"WWW-Authenticate": BASIC_CHALLENGE} if exc.status_code == 401 else None
            raise PageError(exc.status_code, exc.detail, challenge) from None

    return check


def _same_origin_check(request: Request, script_id: str, section_id: str) -> None:
    """Refuse a decision posted from another site (the forms are plain HTML, so CSRF-able)."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is not None and not origin_matches_host(origin, request.headers.get("host", "")):
        reason = "the form was posted from another site (Origin does not match Host)"
    elif fetch_site is not None and fetch_site.lower() not in SAME_SITE_FETCHES:
        reason = f"the form was posted from another site (Sec-Fetch-Site: {fetch_site})"
    else:
        return
    log.warning(
        "review page cross-site post refused",
        extra={"script_id": script_id, "section_id": section_id},
    )
    raise PageError(403, reason)
