"""A job's status document built from its row (`domain.job_document` says what it holds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vsl_pipelines.db.jobs import JobDocumentRow
from vsl_pipelines.domain.job_document import FINAL, public_status


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Any) -> float | None:
    return round(float(value), 6) if value is not None else None


def job_document(row: JobDocumentRow) -> dict[str, Any]:
    """The document of a job with its stored output."""
    status = public_status(row.status, row.collected_at is not None)
    result = None
    if status == "completed" and row.take_media_key:
        probe = row.take_probe or {}
        result = {
            "originalKey": row.take_media_key,
            "thumbnailKey": row.take_thumbnail_key,
            "fileSize": row.take_size_bytes or probe.get("size_bytes"),
            "contentType": row.take_content_type,
        }
        if row.media_type in ("image", "video") and probe.get("width"):
            result["width"] = probe["width"]
            result["height"] = probe["height"]
        if row.media_type in ("video", "audio") and probe.get("duration_s") is not None:
            result["durationS"] = round(float(probe["duration_s"]), 3)
    document: dict[str, Any] = {
        "jobId": str(row.public_id),
        "status": status,
        "userId": row.user_id,
        "mediaType": row.media_type,
        "modelId": row.model_id,
        "predictionId": row.prediction_id,
        # Replicate's seconds of active processing (what hardware-priced models bill).
        "predictTime": round(row.predict_time_s, 3) if row.predict_time_s is not None else None,
        "createdAt": _iso(row.created_at),
        "completedAt": _iso(row.completed_at) if status in FINAL else None,
        "estimatedCost": _money(row.estimated_cost_usd),
        "actualCost": _money(row.actual_cost_usd),
        # billed (from Replicate's figures, the way it bills) or estimated (none came).
        "costSource": row.cost_source,
        "result": result,
        "error": row.error if status == "failed" else None,
        "workspaceId": row.workspace_id,  # for the access check; `served` leaves it out
    }
    if row.script_id is not None:
        document["scriptId"] = row.script_id
        document["sectionId"] = row.section_id or None
        document["stage"] = row.stage
    return document
