"""Reading asset check results back from a Dagster instance (what `vsl demo` reports)."""

from pathlib import Path

import dagster as dg


def latest_check_results(dagster_home: Path, asset: str, partition: str) -> dict[str, bool]:
    """Check name -> passed, for the latest evaluation of each of the asset's checks on the
    partition."""
    results: dict[str, bool] = {}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
            ascending=True,
        )
        for record in records:
            event = record.event_log_entry.dagster_event
            evaluation = event.event_specific_data if event else None
            if not isinstance(evaluation, dg.AssetCheckEvaluation):
                continue
            if evaluation.asset_key == dg.AssetKey(asset) and evaluation.partition == partition:
                results[evaluation.check_name] = bool(evaluation.passed)
    return results
