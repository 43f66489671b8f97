"""Whether a Dagster run is still at work: shared by the sensors that hold back a request while
a run of the same work is in flight and the one that releases a compilation whose run died.
"""

import time

import dagster as dg

IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}


def run_alive(record: dg.RunRecord, stale_after_s: float | None) -> bool:
    """In flight (or failed and about to be retried by the instance), and not a run whose
    worker died. `stale_after_s` None: the launcher checks run workers' health (run
    monitoring fails a run whose container or task died), so the status is the truth;
    otherwise (the local launcher cannot report a dead worker) a run started long ago counts
    as dead."""
    run = record.dagster_run
    if run.is_complete_and_waiting_to_retry:
        return True
    if run.status not in IN_FLIGHT:
        return False
    if run.status == dg.DagsterRunStatus.QUEUED or stale_after_s is None:
        return True
    started = record.start_time or record.create_timestamp.timestamp()
    return time.time() - started < stale_after_s


def run_staleness(instance: dg.DagsterInstance, stale_after_s: float) -> float | None:
    """None when the instance watches run workers itself, else the guess `stale_after_s`."""
    if instance.run_monitoring_enabled and instance.run_launcher.supports_check_run_worker_health:
        return None
    return stale_after_s
