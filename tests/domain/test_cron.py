"""When the generation schedule next fires, as the studio tells a queued script's owner."""

from datetime import UTC, datetime

import pytest

from vsl_pipelines.domain.cron import next_tick

NOW = datetime(2026, 12, 9, 14, 2, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/5 * * * *", datetime(2026, 12, 9, 14, 5, tzinfo=UTC)),
        ("* * * * *", datetime(2026, 12, 9, 14, 3, tzinfo=UTC)),
        ("0 9 * * 1-5", datetime(2026, 12, 10, 9, 0, tzinfo=UTC)),
        ("15,45 */2 * * *", datetime(2026, 12, 9, 14, 15, tzinfo=UTC)),
        ("5/20 14 * * *", datetime(2026, 12, 9, 14, 5, tzinfo=UTC)),
        ("0 0 * * 0", datetime(2026, 12, 13, 0, 0, tzinfo=UTC)),  # Sunday
        ("0 0 * * 7", datetime(2026, 12, 13, 0, 0, tzinfo=UTC)),  # Sunday too
        ("0 12 13 * 5", datetime(2026, 12, 11, 12, 0, tzinfo=UTC)),  # the 13th or a Friday
    ],
)
def test_the_next_tick(cron: str, expected: datetime) -> None:
    assert next_tick(cron, NOW) == expected


@pytest.mark.parametrize(
    "cron", ["@hourly", "*/0 * * * *", "61 * * * *", "* * *", "0 0 1 jan *", "0 0 1 1 *"]
)
def test_what_is_not_understood_or_beyond_a_week_is_none(cron: str) -> None:
    assert next_tick(cron, NOW) is None
