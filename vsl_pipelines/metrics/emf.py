"""CloudWatch Embedded Metric Format in the JSON log lines: one line per event carries its
metric values and a `_aws` block telling CloudWatch Logs to extract them (namespace
`VSL/MediaGeneration`). The original system's six metrics, plus compile time and cost.
"""

from __future__ import annotations

import time
from typing import Literal

from vsl_pipelines.logs import get_logger

NAMESPACE = "VSL/MediaGeneration"
Unit = Literal["Count", "Seconds", "Milliseconds", "Percent", "None"]
UNITS: dict[str, Unit] = {
    "JobsStarted": "Count",
    "JobsCompleted": "Count",
    "JobsFailed": "Count",
    "ProcessingTime": "Seconds",
    "WebhookLatency": "Milliseconds",
    "CacheHitRate": "Percent",
    "CompileTime": "Seconds",
    "CostUSD": "None",
    # A prediction's actual cost once it ended (per workspace: the daily spend alarms).
    "SpendUSD": "None",
}
# Dimension names as the original system's logs spelt them.
DIMENSIONS = {"model_id": "modelId", "media_type": "mediaType", "workspace": "workspace"}

log = get_logger("vsl_pipelines.metrics")


def record(values: dict[str, float], *, action: str, **context: str | int | None) -> None:
    """Log one event with its metric values. `context` adds the ids of the event to the line
    (`job_id`, `script_id`, ...); `model_id`, `media_type` and `workspace` (a slug) also become
    CloudWatch dimensions. `duration_ms`: the event's duration (whole milliseconds), written as
    the original's `duration`."""
    duration_ms = context.pop("duration_ms", None)
    unknown = set(values) - set(UNITS)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {sorted(UNITS)}")
    dimensions = {
        DIMENSIONS[key]: str(value)
        for key, value in context.items()
        if key in DIMENSIONS and value is not None
    }
    fields: dict[str, object] = {
        "action": action,
        **({"duration": duration_ms} if duration_ms is not None else {}),
        **dimensions,
        **values,
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    # Per model (where known) and across all of them.
                    "Dimensions": [sorted(dimensions), []] if dimensions else [[]],
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                }
            ],
        },
    }
    ids = {k: v for k, v in context.items() if k not in DIMENSIONS and v is not None}
    log.info(
        "metric %s", action, extra={**ids, "model_id": context.get("model_id"), "fields": fields}
    )
