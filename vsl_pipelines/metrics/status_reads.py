"""Reads of job status documents in this process, by the layer that answered (redis,
dynamodb, database; missing for an unknown job): the one metric kept in memory.

Counted here, without prometheus_client, so the status layers (which Dagster runs and sensors
import too) do not load it; `metrics/prometheus.py` renders the counts at each scrape.
"""

from __future__ import annotations

import threading
from collections import Counter

_reads: Counter[str] = Counter()
_lock = threading.Lock()


def count_status_read(layer: str) -> None:
    with _lock:
        _reads[layer] += 1


def status_reads() -> dict[str, int]:
    """The counts so far, by layer."""
    with _lock:
        return dict(_reads)
