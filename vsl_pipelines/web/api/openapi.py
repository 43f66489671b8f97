"""Request bodies described in the OpenAPI document: the handlers read their bodies themselves
(strict JSON, bounded YAML, forms), so FastAPI cannot see them; `request_body` says what each
route takes, from the same pydantic models that validate it (schemas inlined, no `$defs`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

ERROR_MEANINGS = {
    400: "Malformed request (e.g. its Host header)",
    401: "Missing or wrong API key",
    403: "Not allowed: a request from another site, or for another user than the key's",
    404: "No such resource",
    409: "In conflict with what is stored (named in `detail`)",
    413: "Body larger than the route allows",
    415: "Content type the route does not take",
    421: "A Host this service does not answer to",
    422: "An invalid field or parameter (named in `detail`)",
    429: "Over the key's rate; retry after `Retry-After` seconds",
}


class ErrorAnswer(BaseModel):
    """Every refusal: what was wrong, naming the field."""

    detail: str


def error_responses(*codes: int, html: bool = False) -> dict[int | str, dict[str, Any]]:
    """The refusals a route (or router) answers, as JSON `{"detail"}` or, for pages, HTML."""
    if html:
        return {
            code: {
                "description": ERROR_MEANINGS[code],
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
            for code in codes or ERROR_MEANINGS
        }
    return {
        code: {"description": ERROR_MEANINGS[code], "model": ErrorAnswer}
        for code in codes or ERROR_MEANINGS
    }


def request_body(content: dict[str, type[BaseModel]], description: str) -> dict[str, Any]:
    """`openapi_extra` for a route: its request body in each media type, required."""
    return {
        "requestBody": {
            "description": description,
            "required": True,
            "content": {
                media_type: {"schema": inline_schema(model)}
                for media_type, model in content.items()
            },
        }
    }


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every `#/$defs/...` reference replaced by its definition
    (the models have no cycles), so it stands anywhere in the OpenAPI document."""
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            target = resolve(definitions[reference.removeprefix("#/$defs/")])
            return {**target, **{k: resolve(v) for k, v in node.items() if k != "$ref"}}
        return {key: resolve(value) for key, value in node.items()}

    resolved: dict[str, Any] = resolve(schema)
    return resolved
