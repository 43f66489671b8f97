"""UTC days as time ranges: the unit of ad-hoc partitions and cost reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after `last` 00:00 UTC)."""
    return (
        datetime.combine(first, time(), UTC),
        datetime.combine(last + timedelta(days=1), time(), UTC),
    )
