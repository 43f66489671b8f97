"""A job's status as clients of the original API see it (`GET /api/status/{jobId}`).

One document per job, the same in every layer that holds it (Redis, the DynamoDB jobs table,
built from PostgreSQL): camelCase fields, media as store keys (URLs are made when it is served,
so a cached document never hands out an expired presigned URL), and a rank so that no layer
ever replaces a document with an older one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The public statuses and their order: a document only replaces one of a lower rank.
PUBLIC_RANK = {"pending": 1, "processing": 2, "completed": 3, "failed": 3}
FINAL = frozenset({"completed", "failed"})
_FAILED = frozenset({"failed", "canceled", "aborted", "expired"})
INTERNAL = frozenset({"workspaceId"})  # in every layer's document, never in an answer
MEDIA_TYPE_OF_STAGE = {
    "keyframe": "image",
    "clip": "video",
    "soundtrack": "audio",
    "narration": "audio",
}


def public_status(status: str, collected: bool) -> str:
    """pending (not started), processing (running, or done but not yet stored), completed
    (stored: the result is there), failed."""
    if status in _FAILED:
        return "failed"
    if status == "succeeded":
        return "completed" if collected else "processing"
    if status == "processing":
        return "processing"
    return "pending"


def rank(document: dict[str, Any]) -> int:
    return PUBLIC_RANK.get(document.get("status", ""), 0)


def served(document: dict[str, Any], url_for: Callable[[str], str]) -> dict[str, Any]:
    """The document as the API answers it: media keys turned into URLs by `url_for`."""
    answer = {k: v for k, v in document.items() if k not in INTERNAL}
    result = document.get("result")
    if not result:
        return answer
    shown = {k: v for k, v in result.items() if k not in ("originalKey", "thumbnailKey")}
    shown["originalUrl"] = url_for(result["originalKey"])
    shown["thumbnailUrl"] = url_for(result["thumbnailKey"]) if result.get("thumbnailKey") else None
    return {**answer, "result": shown}
