"""The `no_failed_or_expired_*` asset checks, one rule for every place that reports them: the
collecting runs (from what they collected) and the webhook sensor (for an output the service
collected at its webhook, from what a collection of its partition would report then)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vsl_pipelines.generation.adhoc import AdhocDayReport
from vsl_pipelines.generation.collect import CollectReport

RESUBMITTED = "Failed or expired predictions are resubmitted by the request asset."


@dataclass(frozen=True)
class FailureCheck:
    """A check's outcome: passed when nothing failed or expired; `error` when the script is out
    of attempts (it has failed), else a failure is a warning (the request asset retries it)."""

    failed: list[dict[str, Any]]
    expired: list[Any]
    error: bool = False
    description: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failed and not self.expired


def stage_check(report: CollectReport, script_status: str) -> FailureCheck:
    """A generation stage's check (`no_failed_or_expired_generations`); `script_status` is the
    script's status after the collection."""
    out_of_attempts = script_status == "failed" and bool(report.failed)
    return FailureCheck(
        failed=report.failed,
        expired=report.expired,
        error=out_of_attempts,
        description=report.script_error if out_of_attempts and report.script_error else RESUBMITTED,
    )


def adhoc_check(report: AdhocDayReport) -> FailureCheck:
    """A day's ad-hoc check (`no_failed_or_expired_adhoc_media`)."""
    return FailureCheck(failed=report.failed, expired=report.expired)
