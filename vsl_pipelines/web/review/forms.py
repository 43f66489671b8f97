"""The review page's decision forms: urlencoded bodies read with limits, their fields validated
as the API's decision bodies, and posts from other sites refused (plain forms are CSRF-able):
by `Origin` / `Sec-Fetch-Site` (the rule the API shares) and by the form's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.logs import get_logger
from vsl_pipelines.web.decisions import (
    ApproveBody,
    RejectBody,
    changed_voice_params,
    drop_unchanged_text,
)
from vsl_pipelines.web.deps import (
    ConfigDep,
    ScriptId,
    SectionId,
    id_parameter,
    media_type,
    refuse_cross_site,
)
from vsl_pipelines.web.errors import validation_problems
from vsl_pipelines.web.review import csrf

log = get_logger("vsl_pipelines.web.review")

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384
MAX_FORM_FIELDS = 16


@dataclass(frozen=True)
class DecisionForm:
    """A posted decision and the script the reviewer was viewing (to go back to)."""

    body: ApproveBody | RejectBody
    view: str | None


async def approval_form(request: Request, config: ConfigDep) -> DecisionForm:
    """An approval form: `csrf`, `subject?`, `note?`."""
    return await _decision_form(request, csrf.app_secret(request), ApproveBody)


async def rejection_form(
    request: Request, config: ConfigDep, script_id: ScriptId, section_id: SectionId
) -> DecisionForm:
    """A rejection form: `csrf`, `subject?`, `note?`, `prompt?`, `seed?` (a clip's) or `text?`,
    and the voice's parameters, e.g. `voice?`, `speed?` (a narration's: those changed from the
    take's become its `params`)."""

    def voice_params(fields: dict[str, Any]) -> None:
        drop_unchanged_text(config.db, script_id, section_id, fields)
        if fields.get("subject") == "narration":
            changed = changed_voice_params(
                config.db, config.registry, script_id, section_id, fields
            )
            if changed:
                fields["params"] = changed

    return await _decision_form(request, csrf.app_secret(request), RejectBody, voice_params)


async def _decision_form(
    request: Request,
    csrf_secret: bytes,
    model: type[ApproveBody] | type[RejectBody],
    prepare: Callable[[dict[str, Any]], None] | None = None,
) -> DecisionForm:
    fields: dict[str, Any] = dict(parse_form(await read_form_body(request)))
    csrf.check_form_token(request, csrf_secret, fields.pop(csrf.FIELD, None))
    view = fields.pop("view", None)
    if view is not None:
        id_parameter("form view", view)
    if prepare is not None:
        await run_in_threadpool(prepare, fields)  # reads the section's voice from the database
    try:
        return DecisionForm(model.model_validate(fields), view)
    except ValidationError as exc:
        raise HTTPException(422, f"form: {validation_problems(exc, 'form')}") from None


async def read_form_body(request: Request, max_bytes: int = MAX_FORM_BYTES) -> bytes:
    """The urlencoded body, refused past `max_bytes` before all of it is read."""
    sent = media_type(request)
    if sent != FORM_TYPE:
        raise HTTPException(415, f"content type {sent or 'missing'!r}; send {FORM_TYPE}")
    too_large = HTTPException(413, f"form: larger than {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


def parse_form(raw: bytes, max_fields: int = MAX_FORM_FIELDS) -> dict[str, str]:
    """The fields of an urlencoded body, each stripped; empty fields count as not given."""
    try:
        parsed = parse_qs(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=max_fields,
        )
    except UnicodeDecodeError:
        raise HTTPException(422, "form: not valid UTF-8 text") from None
    except ValueError:
        raise HTTPException(422, f"form: more than {max_fields} fields") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise HTTPException(422, f"form: {', '.join(repeated)} given more than once")
    return {name: values[0].strip() for name, values in parsed.items() if values[0].strip()}


async def same_origin_post(request: Request) -> None:
    """Refuse a decision posted from another site (`Origin` or `Sec-Fetch-Site` says so)."""
    refuse_cross_site(request, "the form was posted")
