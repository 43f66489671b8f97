"""A job's status as clients of the original API see it (`GET /api/status/{jobId}`).

One document per job, the same in every layer that holds it (Redis, the DynamoDB jobs table,
built from PostgreSQL): camelCase fields, media as store keys (URLs are made when it is served,
so a cached document never hands out an expired presigned URL), and a rank so that no layer
ever replaces a document with an older one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

# The public statuses and their order: a document only replaces one of a lower rank.
PUBLIC_RANK = {"pending": 1, "processing": 2, "completed": 3, "failed": 3}
FINAL = frozenset({"completed", "failed"})
_FAILED = frozenset({"failed", "canceled", "aborted", "expired"})
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Any) -> float | None:
    return round(float(value), 6) if value is not None else None


def job_document(row: dict[str, Any]) -> dict[str, Any]:
    """The document of a `jobs` row joined with its take (`take_*` columns, None before)."""
    status = public_status(row["status"], row["collected_at"] is not None)
    result = None
    if status == "completed" and row.get("take_media_key"):
        probe = row.get("take_probe") or {}
        result = {
            "originalKey": row["take_media_key"],
            "thumbnailKey": row.get("take_thumbnail_key"),
            "fileSize": row.get("take_size_bytes") or probe.get("size_bytes"),
            "contentType": row.get("take_content_type"),
        }
        if row["media_type"] in ("image", "video") and probe.get("width"):
            result["width"] = probe["width"]
            result["height"] = probe["height"]
        if row["media_type"] in ("video", "audio") and probe.get("duration_s") is not None:
            result["durationS"] = round(float(probe["duration_s"]), 3)
    document: dict[str, Any] = {
        "jobId": str(row["public_id"]),
        "status": status,
        "userId": row["user_id"],
        "mediaType": row["media_type"],
        "modelId": row["model_id"],
        "predictionId": row["prediction_id"],
        "createdAt": _iso(row["created_at"]),
        "completedAt": _iso(row["completed_at"]) if status in FINAL else None,
        "estimatedCost": _money(row["estimated_cost_usd"]),
        "actualCost": _money(row["actual_cost_usd"]),
        "result": result,
        "error": row["error"] if status == "failed" else None,
    }
    if row["script_id"] is not None:
        document["scriptId"] = row["script_id"]
        document["sectionId"] = row["section_id"] or None
        document["stage"] = row["stage"]
    return document


def rank(document: dict[str, Any]) -> int:
    return PUBLIC_RANK.get(document.get("status", ""), 0)


def served(document: dict[str, Any], url_for: Callable[[str], str]) -> dict[str, Any]:
    """The document as the API answers it: media keys turned into URLs by `url_for`."""
    result = document.get("result")
    if not result:
        return document
    shown = {k: v for k, v in result.items() if k not in ("originalKey", "thumbnailKey")}
    shown["originalUrl"] = url_for(result["originalKey"])
    shown["thumbnailUrl"] = url_for(result["thumbnailKey"]) if result.get("thumbnailKey") else None
    return {**document, "result": shown}
