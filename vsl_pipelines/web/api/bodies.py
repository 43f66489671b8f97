"""Request bodies of the API: a script as JSON or YAML, a decision as JSON, read as dependencies
so the handlers (plain functions on worker threads) get them parsed and validated.

Parsing runs on a worker thread (a large YAML body takes a second of CPU; the event loop keeps
answering meanwhile). JSON is strict: no `NaN` / `Infinity`, no number that overflows to
infinity, nesting refused past the domain's bound like YAML's, so every bad body is a 4xx.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.domain.script import (
    MAX_DEPTH,
    DocumentError,
    ScriptError,
    check_document,
    load_yaml,
)
from vsl_pipelines.domain.strict_json import NestedTooDeeply, StrictJsonError, loads_strict
from vsl_pipelines.web.decisions import ApproveBody, RejectBody
from vsl_pipelines.web.deps import JSON_TYPE, YAML_TYPES
from vsl_pipelines.web.errors import validation_problems

BODY_SOURCE = "request body"
MAX_SCRIPT_BYTES = 1_000_000

Body = TypeVar("Body", bound=BaseModel)


def parse_body(raw: bytes, content_type: str, model: type[Body] | None = None) -> Any:
    """A JSON (or, for scripts, YAML) body; with `model`, validated into it. 415 for another
    content type (a missing one too), 422 naming the problem for an unreadable body."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if model is None and media_type in YAML_TYPES:
        try:
            document = load_yaml(raw, BODY_SOURCE)
        except ScriptError as exc:
            raise HTTPException(422, str(exc)) from None
    elif media_type == JSON_TYPE:
        if model is not None and not raw.strip():
            raw = b"{}"  # every field of a decision body is optional
        document = parse_json(raw)
    else:
        accepted = JSON_TYPE if model else f"{JSON_TYPE} or application/yaml"
        sent = media_type or "missing"
        raise HTTPException(415, f"{BODY_SOURCE}: content type {sent!r}; send {accepted}")
    try:
        check_document(document, "body")
    except DocumentError as exc:
        raise HTTPException(422, f"{BODY_SOURCE}: {exc}") from None
    if model is None:
        return document
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise HTTPException(422, f"{BODY_SOURCE}: {validation_problems(exc, 'body')}") from None


def parse_json(raw: bytes) -> Any:
    """Strict JSON: 422 for invalid text, `NaN` / `Infinity`, a number overflowing a float, or
    nesting the decoder's recursion cannot follow (deeper ones than `MAX_DEPTH` are refused by
    `check_document` after)."""
    try:
        return loads_strict(raw)
    except NestedTooDeeply:
        _invalid_json(f"nested deeper than {MAX_DEPTH} levels")
    except StrictJsonError as exc:
        _invalid_json(str(exc))


def _invalid_json(reason: str) -> NoReturn:
    raise HTTPException(422, f"{BODY_SOURCE}: invalid JSON ({reason})")


async def script_document(request: Request) -> Any:
    """The submitted script document, before validation against the registry."""
    raw = await request.body()
    if len(raw) > MAX_SCRIPT_BYTES:
        raise HTTPException(413, f"{BODY_SOURCE}: larger than {MAX_SCRIPT_BYTES} bytes")
    return await run_in_threadpool(parse_body, raw, _content_type(request))


async def approve_body(request: Request) -> ApproveBody:
    """An approval: `{"note"?}`."""
    raw = await request.body()
    body: ApproveBody = await run_in_threadpool(
        parse_body, raw, _content_type(request), ApproveBody
    )
    return body


async def reject_body(request: Request) -> RejectBody:
    """A rejection: `{"note"?, "prompt"?, "seed"?}`."""
    raw = await request.body()
    body: RejectBody = await run_in_threadpool(parse_body, raw, _content_type(request), RejectBody)
    return body


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "")
