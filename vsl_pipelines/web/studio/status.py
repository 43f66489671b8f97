"""What the studio says is happening to a script now, in words a marketer reads: queued since
when and when the schedule picks it up, generating (which stage, how many predictions, a
retake), waiting for review (how many decisions), failed and why, compiling, compiled. The
scripts list and a script's page say the same, from `db.script_activity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from vsl_pipelines.db.script_activity import ScriptActivity
from vsl_pipelines.domain.cron import next_tick
from vsl_pipelines.settings import get_settings

STAGE_WORDS = {"keyframe": "keyframe", "clip": "clip", "narration": "voice", "soundtrack": "music"}


def generation_cron() -> str:
    """The generation schedule's cron (`VSL_GENERATION_SCHEDULE`), as Dagster runs it."""
    return get_settings().generation_schedule


@dataclass(frozen=True)
class StatusLine:
    """A script's status in words: `headline` (one line), `details` (what else is going on)
    and whether it is `active` (something will change without a person: pages poll)."""

    status: str
    headline: str
    details: list[str] = field(default_factory=list)
    active: bool = False
    pending_decisions: int = 0
    retakes: list[str] = field(default_factory=list)  # sections with a retake on its way


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _running(activity: ScriptActivity) -> str:
    order = {stage: i for i, stage in enumerate(STAGE_WORDS)}
    stages = sorted(activity.running.items(), key=lambda item: order.get(item[0], len(order)))
    parts = ", ".join(f"{STAGE_WORDS.get(stage, stage)} {n}" for stage, n in stages)
    return f"{_plural(activity.running_total, 'prediction')} running ({parts})"


def _sections(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def status_line(
    activity: ScriptActivity, cron: str | None = None, now: datetime | None = None
) -> StatusLine:
    """`activity` in words; `cron`: the generation schedule, to say when it picks up a queued
    script."""
    now = now or datetime.now(UTC)
    status = activity.status
    details: list[str] = []
    compiling = activity.compilation_status in ("requested", "running")
    if activity.retakes and status != "failed":
        details.append(f"A retake of {_sections(activity.retakes)} is on its way.")
    if status == "queued":
        headline = f"Queued since {_clock(activity.updated_at)}"
        tick = next_tick(cron, now) if cron else None
        when = f"at {_clock(tick)}" if tick else "at its next tick"
        details.insert(
            0,
            f"Generation starts within seconds; if not, the generation schedule picks it up {when}.",
        )
    elif status == "generating":
        headline = "Generating: " + (
            _running(activity) if activity.running_total else "storing what came back"
        )
    elif status == "review":
        if activity.pending_decisions:
            headline = f"Waiting for review: {_plural(activity.pending_decisions, 'decision')}"
        elif activity.sections and activity.approved == activity.sections and not compiling:
            headline = "Every take approved: the compile starts in a moment"
        else:
            headline = "In review"
    elif status == "failed":
        headline = f"Failed: {activity.error or 'see the Dagster UI'}"
        details.append("Retry the failed predictions from the script's page.")
    elif status == "compiling":
        since = activity.compilation_since
        headline = f"Compiling (compilation {activity.compilation_id}" + (
            f", since {_clock(since)})" if since else ")"
        )
    elif status == "compiled":
        headline = "Compiled" + (
            f" ({activity.compilation_format})"
            if activity.compilation_status == "succeeded" and activity.compilation_format
            else ""
        )
    else:
        headline = status
    if status not in ("review", "compiling") and activity.pending_decisions:
        details.append(f"{_plural(activity.pending_decisions, 'decision')} waiting for review.")
    if status != "compiling" and compiling:
        details.append(f"Compilation {activity.compilation_id} is {activity.compilation_status}.")
    elif activity.compilation_status == "failed" and status != "failed":
        details.append(
            f"Compilation {activity.compilation_id} failed: {activity.compilation_error}"
        )
    if activity.running_total and status not in ("generating",):
        details.append(_running(activity).capitalize() + ".")
    about_to_compile = (
        status == "review"
        and activity.sections > 0
        and activity.approved == activity.sections
        and activity.compilation_status is None
    )
    active = (
        status in ("queued", "generating", "compiling")
        or compiling
        or activity.running_total > 0
        or (bool(activity.retakes) and status != "failed")
        or about_to_compile
    )
    retakes = list(activity.retakes) if status != "failed" else []
    return StatusLine(status, headline, details, active, activity.pending_decisions, retakes)
