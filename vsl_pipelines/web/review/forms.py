"""The review page's decision forms: urlencoded bodies read with limits, their fields validated
as the API's decision bodies, and posts from other sites refused (plain forms are CSRF-able).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException, Request
from pydantic import ValidationError

from vsl_pipelines.logs import get_logger
from vsl_pipelines.web.decisions import ApproveBody, RejectBody
from vsl_pipelines.web.errors import validation_problems

log = get_logger("vsl_pipelines.web.review")

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384
MAX_FORM_FIELDS = 16
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


@dataclass(frozen=True)
class DecisionForm:
    """A posted decision and the script the reviewer was viewing (to go back to)."""

    body: ApproveBody | RejectBody
    view: str | None


async def approval_form(request: Request) -> DecisionForm:
    """An approval form: `note?`."""
    return await _decision_form(request, ApproveBody)


async def rejection_form(request: Request) -> DecisionForm:
    """A rejection form: `note?`, `prompt?`, `seed?`."""
    return await _decision_form(request, RejectBody)


async def _decision_form(
    request: Request, model: type[ApproveBody] | type[RejectBody]
) -> DecisionForm:
    fields = parse_form(await read_form_body(request))
    view = fields.pop("view", None)
    try:
        return DecisionForm(model.model_validate(fields), view)
    except ValidationError as exc:
        raise HTTPException(422, f"form: {validation_problems(exc, 'form')}") from None


async def read_form_body(request: Request) -> bytes:
    """The urlencoded body, refused past `MAX_FORM_BYTES` before all of it is read."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ("", FORM_TYPE):  # a bare post is an empty form, as in the API
        raise HTTPException(415, f"content type {media_type!r}; send {FORM_TYPE}")
    too_large = HTTPException(413, f"form: larger than {MAX_FORM_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise too_large
    return bytes(body)


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
        raise HTTPException(422, "form: not valid UTF-8 text") from None
    except ValueError:
        raise HTTPException(422, f"form: more than {MAX_FORM_FIELDS} fields") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise HTTPException(422, f"form: {', '.join(repeated)} given more than once")
    return {name: values[0].strip() for name, values in parsed.items() if values[0].strip()}


def same_origin_post(request: Request, script_id: str, section_id: str) -> None:
    """Refuse a decision posted from another site (`Origin` or `Sec-Fetch-Site` says so)."""
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
    raise HTTPException(403, reason)


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
