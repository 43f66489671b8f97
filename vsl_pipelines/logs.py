"""Structured JSON logging for every process (service, sandbox, Dagster code, CLI).

Lines have the original system's shape, so its CloudWatch Logs Insights queries keep working
(`filter level = "ERROR" | stats count() by modelId`): `timestamp` (ISO 8601, UTC), upper-case
`level`, `action` where the event has one, `duration` in milliseconds where it has one, and the
ids passed in `extra` (script_id, section_id, job_id, model_id, ...) both under our names and
under the original's camelCase ones (jobId, userId, modelId, mediaType). A `jobId` given in
`fields` (an ad-hoc job's public id) wins over the internal `job_id`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

CONTEXT_KEYS = (
    "script_id",
    "section_id",
    "job_id",
    "user_id",
    "model_id",
    "media_type",
    "prediction_id",
    "take",
    "stage",
    "webhook_id",
    "run_id",
)
# The original system's names for the ids it logged, written beside ours.
ORIGINAL_NAMES = {
    "job_id": "jobId",
    "user_id": "userId",
    "model_id": "modelId",
    "media_type": "mediaType",
}
_SECRET_PATTERN = re.compile(r"(r8_[A-Za-z0-9]{6,}|whsec_[A-Za-z0-9+/=]{6,}|Bearer\s+\S+)")


def redact(text: str) -> str:
    """Replace anything shaped like a Replicate token, webhook secret or bearer header."""
    return _SECRET_PATTERN.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.upper(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        action = getattr(record, "action", None)
        if action is not None:
            line["action"] = action
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
                if key in ORIGINAL_NAMES:
                    line[ORIGINAL_NAMES[key]] = value
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            if "jobId" in extra:
                line["jobId"] = extra["jobId"]
            line.update({k: v for k, v in extra.items() if k not in line})
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Install the JSON formatter on the root logger once per process."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pgserver narrates every pg_ctl call at INFO; db.embedded logs the start and stop itself.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "alembic", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
