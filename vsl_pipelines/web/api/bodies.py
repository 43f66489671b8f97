"""Request bodies of the API: a script as JSON or YAML, a decision as JSON, read as dependencies
so the handlers (plain functions on worker threads) get them parsed and validated.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import yaml
from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

from vsl_pipelines.web.decisions import ApproveBody, RejectBody
from vsl_pipelines.web.errors import validation_problems

BODY_SOURCE = "request body"
MAX_SCRIPT_BYTES = 1_000_000
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")

Body = TypeVar("Body", bound=BaseModel)


def parse_body(raw: bytes, content_type: str, model: type[Body] | None = None) -> Any:
    """A JSON (or, for scripts, YAML) body; with `model`, validated into it."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if model is None and media_type in YAML_TYPES:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise HTTPException(422, f"{BODY_SOURCE}: invalid YAML{where}") from None
    if media_type not in ("", "application/json"):
        accepted = "application/json" if model else "application/json or application/yaml"
        raise HTTPException(415, f"{BODY_SOURCE}: content type {media_type!r}; send {accepted}")
    if model is not None and not raw.strip():
        raw = b"{}"  # every field of a decision body is optional
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(422, f"{BODY_SOURCE}: invalid JSON ({exc})") from None
    if model is None:
        return document
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise HTTPException(422, f"{BODY_SOURCE}: {validation_problems(exc, 'body')}") from None


async def script_document(request: Request) -> Any:
    """The submitted script document, before validation against the registry."""
    raw = await request.body()
    if len(raw) > MAX_SCRIPT_BYTES:
        raise HTTPException(413, f"{BODY_SOURCE}: larger than {MAX_SCRIPT_BYTES} bytes")
    return parse_body(raw, _content_type(request))


async def approve_body(request: Request) -> ApproveBody:
    """An approval: `{"note"?}`."""
    body: ApproveBody = parse_body(await request.body(), _content_type(request), ApproveBody)
    return body


async def reject_body(request: Request) -> RejectBody:
    """A rejection: `{"note"?, "prompt"?, "seed"?}`."""
    body: RejectBody = parse_body(await request.body(), _content_type(request), RejectBody)
    return body


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "")
