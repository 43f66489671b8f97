"""The failure checks as Dagster reports them (a run's result, the webhook sensor's
evaluation), and reading asset check results back from an instance (what `vsl demo` reports)."""

import time
from pathlib import Path
from typing import Any

import dagster as dg

from vsl_pipelines.generation.failure_checks import FailureCheck


def _check_fields(check: FailureCheck) -> dict[str, Any]:
    return {
        "passed": check.passed,
        "severity": dg.AssetCheckSeverity.ERROR if check.error else dg.AssetCheckSeverity.WARN,
        "description": check.description,
    }


def _check_metadata(check: FailureCheck) -> dict[str, Any]:
    return {
        "failed": dg.MetadataValue.json(check.failed),
        "expired_job_ids": dg.MetadataValue.json(check.expired),
    }


def failure_check_result(name: str, check: FailureCheck) -> dg.AssetCheckResult:
    """A failure check as the collecting run's asset reports it."""
    return dg.AssetCheckResult(
        check_name=name, metadata=_check_metadata(check), **_check_fields(check)
    )


def failure_check_evaluation(
    asset: dg.AssetKey, name: str, partition: str, check: FailureCheck, job_id: int
) -> dg.AssetCheckEvaluation:
    """A failure check as the webhook sensor records it, for the output of `job_id` collected
    outside a run (the job in its metadata, as in the materialization's).

    Its partition is in its metadata, not its `partition`: Dagster keeps one evaluation per
    check, run id and partition (`idx_asset_check_executions_unique`), and every evaluation
    outside a run has the same run id (''), so a second one of a partition would fail to be
    stored, and the sensor's tick with it. Without one (NULL) each is a row of its own, as
    a collecting run's result is (the run's planned row holds the partition)."""
    return dg.AssetCheckEvaluation(
        asset_key=asset,
        check_name=name,
        metadata={**_check_metadata(check), "partition": partition, "job_id": job_id},
        **_check_fields(check),
    )


def latest_check_results(dagster_home: Path, asset: str, partition: str) -> dict[str, bool]:
    """Check name -> passed, from the latest successful run that materialized the asset's
    partition (empty when there is none)."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(
            filters=dg.RunsFilter(
                tags={"dagster/partition": partition},
                statuses=[dg.DagsterRunStatus.SUCCESS],
            ),
            order_by="update_timestamp",
            ascending=False,
        )
        for record in records:
            results = {
                evaluation.check_name: bool(evaluation.passed)
                for entry in instance.all_logs(
                    record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
                if entry.dagster_event is not None
                and isinstance(
                    evaluation := entry.dagster_event.event_specific_data, dg.AssetCheckEvaluation
                )
                and evaluation.asset_key == dg.AssetKey(asset)
            }
            if results:
                return results
    return {}


def wait_for_check_results(
    dagster_home: Path, asset: str, partition: str, timeout_s: float = 60.0
) -> dict[str, bool]:
    """`latest_check_results` once the run that materialized the partition has ended (the
    script's status says `compiled` a moment before its run is marked successful)."""
    deadline = time.monotonic() + timeout_s
    while True:
        results = latest_check_results(dagster_home, asset, partition)
        if results or time.monotonic() > deadline:
            return results
        time.sleep(0.5)
