"""Prediction state of the sandbox: kept in memory, mirrored to one JSON file per prediction.

A restart reloads finished predictions; ones that were still running are marked failed.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["starting", "processing", "succeeded", "failed", "canceled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
EVENTS = ("start", "output", "logs", "completed")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 timestamp; one without a zone is taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_prediction_id() -> str:
    # Replicate ids are 26 lowercase base32 characters.
    return base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=")[:26]


class PredictionRecord(BaseModel):
    """Everything the sandbox knows about one prediction (the public JSON is a subset)."""

    id: str
    model_id: str
    model: str
    version: str
    input: dict[str, Any]
    status: Status = "starting"
    output: Any = None
    logs: str = ""
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    predict_time: float | None = None
    image_count: int | None = None  # reported by per-image models
    data_removed: bool = False
    webhook: str | None = None
    webhook_events_filter: list[str] = Field(default_factory=lambda: list(EVENTS))
    files: list[str] = Field(default_factory=list, description="output file names")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self, api_url: str, web_url: str) -> dict[str, Any]:
        """The prediction as Replicate's API returns it."""
        metrics: dict[str, Any] = {}
        if self.predict_time is not None:
            metrics["predict_time"] = round(self.predict_time, 6)
        if self.image_count is not None and self.status == "succeeded":
            metrics["image_count"] = self.image_count
        if self.completed_at is not None:
            metrics["total_time"] = round((self.completed_at - self.created_at).total_seconds(), 6)
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "data_removed": self.data_removed,
            "error": self.error,
            "status": self.status,
            "source": "api",
            "created_at": format_time(self.created_at),
            "metrics": metrics,
            "urls": {
                "get": f"{api_url}/predictions/{self.id}",
                "cancel": f"{api_url}/predictions/{self.id}/cancel",
                "stream": f"{api_url}/predictions/{self.id}/stream",
                "web": f"{web_url}/p/{self.id}",
            },
        }
        if self.started_at is not None:
            body["started_at"] = format_time(self.started_at)
        if self.completed_at is not None:
            body["completed_at"] = format_time(self.completed_at)
        return body


class PredictionStore:
    """Thread-safe map of predictions, each change written to `{root}/{id}.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._records: dict[str, PredictionRecord] = {}
        self._load()

    def _load(self) -> None:
        for path in sorted(self.root.glob("*.json")):
            try:
                record = PredictionRecord.model_validate_json(path.read_text())
            except (OSError, ValueError):
                continue
            if not record.terminal:
                record.status = "failed"
                record.error = "The sandbox restarted while this prediction was running."
                record.completed_at = utc_now()
                self._write(record)
            self._records[record.id] = record

    def _write(self, record: PredictionRecord) -> None:
        path = self.root / f"{record.id}.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(record.model_dump_json())
        partial.replace(path)

    @property
    def lock(self) -> threading.RLock:
        """Held by callers that read and change a record as one step."""
        return self._lock

    def add(self, record: PredictionRecord) -> None:
        with self._lock:
            self._records[record.id] = record.model_copy(deep=True)
            self._write(record)

    def get(self, prediction_id: str) -> PredictionRecord | None:
        with self._lock:
            record = self._records.get(prediction_id)
            return record.model_copy(deep=True) if record else None

    def update(self, prediction_id: str, **changes: Any) -> PredictionRecord:
        with self._lock:
            record = self._records[prediction_id]
            for name, value in changes.items():
                setattr(record, name, value)
            self._write(record)
            return record.model_copy(deep=True)

    def ended_before(self, cutoff: datetime) -> list[str]:
        """Ids of predictions that ended before `cutoff` and still have their outputs."""
        with self._lock:
            return [
                r.id
                for r in self._records.values()
                if not r.data_removed and r.completed_at is not None and r.completed_at <= cutoff
            ]

    def all(self) -> list[PredictionRecord]:
        """Every prediction, newest first."""
        with self._lock:
            records = [r.model_copy(deep=True) for r in self._records.values()]
        return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)


def encode_cursor(direction: str, record: PredictionRecord) -> str:
    raw = json.dumps([direction, format_time(record.created_at), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, datetime, str]:
    """("next" | "previous", created_at, id) of the page boundary; ValueError if malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        direction, created_at, prediction_id = json.loads(base64.urlsafe_b64decode(padded))
        if direction not in ("next", "previous"):
            raise ValueError(direction)
        return direction, parse_time(created_at), str(prediction_id)
    except Exception as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
