"""The statuses a generation job goes through, in the order they may follow each other.

One order for the `jobs` table, the Redis status cache and the webhook sensor: a status only
ever replaces one of a lower rank, so a late or repeated webhook never moves a job backwards.
Equal ranks never replace each other: the first terminal status recorded wins.
"""

from __future__ import annotations

STATUS_RANK: dict[str, int] = {
    "creating": 0,  # our row exists, the Replicate call has not answered yet
    "starting": 1,
    "processing": 2,
    "succeeded": 3,
    "failed": 3,
    "canceled": 3,
    "aborted": 3,
    "expired": 4,  # its output was gone before we collected it
}
ACTIVE = ("creating", "starting", "processing")
TERMINAL = ("succeeded", "failed", "canceled", "aborted", "expired")
RETRYABLE = ("failed", "canceled", "aborted", "expired")


def status_rank(status: str) -> int:
    """The status's rank; -1 for a status we do not know (it never replaces a known one)."""
    return STATUS_RANK.get(status, -1)
