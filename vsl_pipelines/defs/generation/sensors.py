"""The webhook sensor: follows the inbox from a high-water cursor and launches collecting runs.

Each tick applies at most `batch` events to jobs, polls jobs whose webhook is late, and asks
the database which step each active script needs; run keys make every request happen once.
Outputs the service collected at their webhooks are returned as their assets' materializations,
with the failure checks a collecting run would report for them, each recorded once.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from vsl_pipelines.db.jobs import DueMaterialization
from vsl_pipelines.defs.adhoc.assets import NONE_FAILED, adhoc_media, collect_adhoc_job
from vsl_pipelines.defs.checks import failure_check_evaluation
from vsl_pipelines.defs.generation.assets import NO_FAILED
from vsl_pipelines.defs.generation.jobs import JOB_FOR_STEP
from vsl_pipelines.defs.resources import (
    DatabaseResource,
    InboxResource,
    JobStatusResource,
    PacingResource,
    ReplicateResource,
)
from vsl_pipelines.defs.runs import IN_FLIGHT, run_alive, run_staleness
from vsl_pipelines.defs.tags import SCRIPT, STATE_KEY, STEP, run_tags
from vsl_pipelines.domain.stages import COLLECTING_STEPS, Stage
from vsl_pipelines.generation.adhoc import days_to_collect
from vsl_pipelines.generation.at_webhook import (
    ADHOC,
    failure_checks,
    materializations_held,
    materializations_sent,
    output_partition,
    outside_run_outputs,
)
from vsl_pipelines.generation.failure_checks import FailureCheck
from vsl_pipelines.generation.progress import REVIEW_DUE, next_runs, scripts_to_visit
from vsl_pipelines.inbox import WebhookInbox
from vsl_pipelines.services.generation import Progress

MAX_RUNS_PER_STATE = 3
PARTITION = "dagster/partition"
# Looking an output's events up in the event log: back to this long before the tick that sent
# them (clocks of the database and the daemon apart), at most this many records a partition.
LOOKUP_SLACK_S = 600.0
LOOKUP_LIMIT = 1000
OutputEvent = dg.AssetMaterialization | dg.AssetCheckEvaluation


def run_key_for(
    instance: dg.DagsterInstance | None, state_key: str, stale_after_s: float = 900.0
) -> str | None:
    """The run key for a state: the state key itself, then `:1`, `:2` after runs that ended
    without changing the state (crashed, failed, killed with the daemon); None while one is in
    flight or after MAX_RUNS_PER_STATE tries (an operator re-runs it from the UI)."""
    if instance is None:
        return state_key
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={STATE_KEY: state_key}), limit=MAX_RUNS_PER_STATE + 1
    )
    stale = run_staleness(instance, stale_after_s)
    if any(run_alive(r, stale) for r in records) or len(records) >= MAX_RUNS_PER_STATE:
        return None
    return f"{state_key}:{len(records)}" if records else state_key


def _tagged_run_in_flight(
    instance: dg.DagsterInstance | None, tags: dict[str, str], stale_after_s: float
) -> bool:
    if instance is None:
        return False
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags=tags, statuses=list(IN_FLIGHT)),
        limit=MAX_RUNS_PER_STATE + 1,
    )
    stale = run_staleness(instance, stale_after_s)
    return any(run_alive(r, stale) for r in records)


def step_run_in_flight(
    instance: dg.DagsterInstance | None, script_id: str, step: str, stale_after_s: float = 900.0
) -> bool:
    """A run of the script's `step` (`keyframes`, `clips`, ...) is queued or running (and not
    dead)."""
    return _tagged_run_in_flight(instance, {SCRIPT: script_id, STEP: step}, stale_after_s)


def adhoc_run_in_flight(
    instance: dg.DagsterInstance | None, day: str, stale_after_s: float = 900.0
) -> bool:
    """A `collect_adhoc` run of the UTC day `day` is queued or running (and not dead)."""
    return _tagged_run_in_flight(instance, {STEP: "adhoc", PARTITION: day}, stale_after_s)


def _waits_for(step: str, state_key: str) -> set[str]:
    """The collecting steps whose run in flight makes this request unnecessary for now.

    A collecting run stores its stage's outputs one by one, so while it works the database
    shows a smaller set ready, under a new state key: a second run of the same step that finds
    nothing left to collect. And a `collect_keyframes` run stores the keyframes and then
    requests the clips, so between its two steps the database shows clips due (the
    `clips-due` request) and a still section's clip ready on its own (a `clips` run for it
    alone, then another for the model clips)."""
    waits = {step} if step in COLLECTING_STEPS else set()
    if step == Stage.CLIP.step or state_key.startswith("clips-due:"):
        waits.add(Stage.KEYFRAME.step)
    if state_key.startswith(REVIEW_DUE):  # any collecting run moves it on itself
        waits.update(COLLECTING_STEPS)
    return waits


def webhook_tick(
    cursor: int,
    inbox: WebhookInbox,
    progress: Progress,
    pacing: PacingResource,
    instance: dg.DagsterInstance | None = None,
    also_visit: frozenset[str] = frozenset(),
) -> tuple[list[dg.RunRequest], int, int]:
    """One tick: (run requests, new cursor, events applied). The inbox's new webhooks move
    their jobs, late jobs are polled, then each script touched (or due, or in `also_visit`:
    with takes the service collected) asks for its runs."""
    db = progress.db
    events = inbox.read_after(cursor, pacing.sensor_batch_size)
    touched = progress.apply(
        [event.body for event in events], [event.received_at for event in events]
    ) | set(also_visit)
    new_cursor = events[-1].seq if events else cursor
    progress.poll_late(pacing.late_webhook_s)
    requests = []
    for day in days_to_collect(db):
        # A day's run collects its jobs one by one; while it works, the rest is a new state.
        if adhoc_run_in_flight(instance, day.day.isoformat(), pacing.stale_run_s):
            continue
        run_key = run_key_for(instance, day.state_key, pacing.stale_run_s)
        if run_key is not None:
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    job_name=collect_adhoc_job.name,
                    partition_key=day.day.isoformat(),
                    tags={STEP: "adhoc", STATE_KEY: day.state_key},
                )
            )
    for script_id in scripts_to_visit(db, touched, pacing.sensor_batch_size):
        runs = next_runs(db, script_id)
        waits = [_waits_for(r.step, r.run_key) for r in runs]
        busy = {
            step
            for step in sorted(set[str]().union(*waits))
            if step_run_in_flight(instance, script_id, step, pacing.stale_run_s)
        }
        # Held back while a collecting run they wait for is in flight: asked again at a later
        # tick, from the state that run leaves (or leaves behind when it dies).
        runs = [r for r, wait in zip(runs, waits, strict=True) if not wait & busy]
        for run in runs:
            run_key = run_key_for(instance, run.run_key, pacing.stale_run_s)
            if run_key is None:
                continue
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    job_name=JOB_FOR_STEP[run.step].name,
                    partition_key=run.script_id,
                    tags={**run_tags(run.script_id, run.step), STATE_KEY: run.run_key},
                )
            )
    return requests, new_cursor, len(events)


def parse_cursor(cursor: str | None) -> tuple[int, list[int]]:
    """(the inbox's seq, the jobs whose materializations the last tick returned)."""
    seq, _, jobs = (cursor or "0").partition(";")
    return int(seq or 0), [int(j) for j in jobs.split(",") if j]


def format_cursor(seq: int, reported: list[int]) -> str:
    """The inbox's seq, then the jobs whose materializations this tick returns: Dagster stores
    a tick's asset events before its cursor, so the next tick, reading them back, knows they
    are held and marks them recorded (a tick that failed leaves them due)."""
    return f"{seq};{','.join(map(str, reported))}" if reported else str(seq)


def events_of(
    output: DueMaterialization, checks: dict[tuple[str, str], FailureCheck]
) -> list[OutputEvent]:
    """An output the service collected as its asset partition's materialization, each followed
    by the failure check its collecting run would report (from `checks`, by partition; none
    when absent); a still section's clip rendered from a keyframe likewise as `clips`."""
    stage, partition = output_partition(output)
    asset = adhoc_media.key if stage == ADHOC else dg.AssetKey(Stage(stage).collected_asset)
    events: list[OutputEvent] = [materialization_of(output)]
    check = checks.get((stage, partition))
    if check is not None:
        name = NONE_FAILED if stage == ADHOC else NO_FAILED
        events.append(failure_check_evaluation(asset, name, partition, check, output.id))
    if output.still_clip_key is not None and output.script_id is not None:
        clips = dg.AssetKey(Stage.CLIP.collected_asset)
        events.append(
            dg.AssetMaterialization(
                asset_key=clips,
                partition=output.script_id,
                description="A still section's clip, rendered from its keyframe at the webhook.",
                metadata={
                    "job_id": output.id,
                    "section": output.section_id,
                    "take": output.take,
                    "files": dg.MetadataValue.json([output.still_clip_key]),
                },
            )
        )
        clip_check = checks.get((Stage.CLIP.value, output.script_id))
        if clip_check is not None:
            events.append(
                failure_check_evaluation(clips, NO_FAILED, output.script_id, clip_check, output.id)
            )
    return events


def _job_of(metadata: Any) -> Any:
    value = metadata.get("job_id")
    return getattr(value, "value", value)


def _held(instance: dg.DagsterInstance, event: OutputEvent, job_id: int, since: float) -> bool:
    """Whether the event log holds `event` for the job already (stored since `since`)."""
    if isinstance(event, dg.AssetMaterialization):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=event.asset_key,
                asset_partitions=[event.partition] if event.partition else None,
                after_timestamp=since,
            ),
            limit=LOOKUP_LIMIT,
            ascending=False,
        ).records
        return any(
            r.asset_materialization is not None
            and _job_of(r.asset_materialization.metadata) == job_id
            for r in records
        )
    history = instance.event_log_storage.get_asset_check_execution_history(
        event.asset_check_key, limit=LOOKUP_LIMIT
    )
    for record in history:
        if record.create_timestamp < since:
            break
        data = record.event.dagster_event if record.event else None
        held = data.event_specific_data if data else None
        if (
            isinstance(held, dg.AssetCheckEvaluation)
            and held.partition == event.partition
            and _job_of(held.metadata) == job_id
        ):
            return True
    return False


def events_to_record(
    instance: dg.DagsterInstance | None,
    due: Sequence[DueMaterialization],
    checks: dict[tuple[str, str], FailureCheck],
) -> tuple[list[OutputEvent], list[int], list[int]]:
    """(the events to return, the jobs they belong to, the jobs Dagster holds wholly already).

    A job a tick returned before (`sent_at`) whose tick's cursor was never stored (the daemon
    died between storing its events and its cursor, or part way through the events) may be
    held already: its events are looked up in the event log, and only those missing are
    returned again."""
    events: list[OutputEvent] = []
    sent: list[int] = []
    held_jobs: list[int] = []
    for output in due:
        wanted = events_of(output, checks)
        if output.sent_at is not None and instance is not None:
            since = _since(output.sent_at)
            wanted = [e for e in wanted if not _held(instance, e, output.id, since)]
            if not wanted:
                held_jobs.append(output.id)
                continue
        events.extend(wanted)
        sent.append(output.id)
    return events, sent, held_jobs


def _since(sent_at: datetime) -> float:
    return sent_at.timestamp() - LOOKUP_SLACK_S


def materialization_of(output: DueMaterialization) -> dg.AssetMaterialization:
    """An output the service collected as its asset partition's materialization: the day's
    `adhoc_media`, or the script's collected asset of its stage."""
    stage, partition = output_partition(output)
    asset = adhoc_media.key if stage == ADHOC else dg.AssetKey(Stage(stage).collected_asset)
    metadata: dict[str, Any] = {
        "job_id": output.id,
        "collected": "at the webhook (vsl serve)",
        "files": dg.MetadataValue.json([output.media_key] if output.media_key else []),
        "model_id": output.model_id,
    }
    if output.script_id is None:
        metadata["public_job_id"] = str(output.public_id)
    else:
        metadata.update(section=output.section_id, take=output.take)
    if output.duration_s is not None:
        metadata["duration_s"] = round(output.duration_s, 3)
    if output.size_bytes is not None:
        metadata["size_bytes"] = output.size_bytes
    return dg.AssetMaterialization(
        asset_key=asset,
        partition=partition,
        description="Collected where its webhook was accepted, outside a run.",
        metadata=metadata,
    )


def build_webhook_sensor(interval_s: int = 5) -> dg.SensorDefinition:
    """The webhook sensor, ticking every `interval_s` seconds."""

    @dg.sensor(
        name="webhook_sensor",
        jobs=[*JOB_FOR_STEP.values(), collect_adhoc_job],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def webhook_sensor(
        context: dg.SensorEvaluationContext,
        database: DatabaseResource,
        inbox: InboxResource,
        replicate: ReplicateResource,
        pacing: PacingResource,
        job_status: JobStatusResource,
    ) -> dg.SensorResult:
        """Reads new webhooks, updates job status, launches the collecting run of a finished
        stage; records the outputs the service collected as their assets' materializations,
        with their failure checks."""
        seq, recorded = parse_cursor(context.cursor)
        progress = Progress(database.database(), job_status.layers(), replicate.client())
        due = outside_run_outputs(progress.db, progress.status, recorded, pacing.sensor_batch_size)
        requests, cursor, applied = webhook_tick(
            seq,
            inbox.inbox(),
            progress,
            pacing,
            context.instance,
            also_visit=frozenset(d.script_id for d in due if d.script_id),
        )
        if applied:
            context.log.info(f"applied {applied} webhook event(s); cursor {cursor}")
        # Their checks as the partitions stand after this tick's webhooks.
        events, sent, held = events_to_record(
            context.instance, due, failure_checks(progress.db, due)
        )
        materializations_held(progress.db, held)
        # Before returning them: from here on, Dagster may hold them whatever the cursor says.
        materializations_sent(progress.db, sent)
        return dg.SensorResult(
            run_requests=requests, asset_events=events, cursor=format_cursor(cursor, sent)
        )

    return webhook_sensor
