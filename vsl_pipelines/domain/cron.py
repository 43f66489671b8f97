"""When a cron schedule next fires: what the studio tells a person whose script waits for the
generation schedule (`VSL_GENERATION_SCHEDULE`, evaluated in UTC as Dagster does).

Five fields (minute, hour, day of month, month, day of week), each `*`, a number, a range
`a-b`, a step `*/n` or `a-b/n`, or a list of those; when both days are restricted either
one matches, as cron has it. Anything else (names, `@hourly`) is not understood: None.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_HORIZON = timedelta(days=8)  # every schedule the flow uses fires within a week


def _field(text: str, low: int, high: int) -> set[int] | None:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            return None
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            if not (first.isdigit() and last.isdigit()):
                return None
            start, end = int(first), int(last)
        elif span.isdigit():
            start = end = int(span)
            if step is not None:
                end = high
        else:
            return None
        if not low <= start <= end <= high:
            return None
        values.update(range(start, end + 1, step or 1))
    return values


def next_tick(cron: str, after: datetime) -> datetime | None:
    """The first minute after `after` (aware, UTC) that `cron` fires at; None when the
    expression is not understood or fires later than a week ahead."""
    parts = cron.split()
    if len(parts) != 5:
        return None
    fields = [_field(p, low, high) for p, (low, high) in zip(parts, _BOUNDS, strict=True)]
    if any(f is None for f in fields):
        return None
    minutes, hours, days, months, weekdays = (f or set() for f in fields)
    weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
    any_day, any_weekday = parts[2] == "*", parts[4] == "*"
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = after + _HORIZON
    while moment <= end:
        day_ok = moment.day in days
        weekday_ok = (moment.isoweekday() % 7) in weekdays
        # Both days restricted: either matches (cron's rule); else both must.
        restricted = not (any_day or any_weekday)
        matches_day = (day_ok or weekday_ok) if restricted else (day_ok and weekday_ok)
        if moment.month in months and matches_day and moment.hour in hours:
            if moment.minute in minutes:
                return moment
            moment += timedelta(minutes=1)
        else:  # not this hour: to the next one
            moment = moment.replace(minute=0) + timedelta(hours=1)
    return None
