"""Reading asset check results back from a Dagster instance (what `vsl demo` reports)."""

import time
from pathlib import Path

import dagster as dg


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
