"""The daily cost report: what generation cost each day, as numbers the Dagster UI plots over
the days (total, estimated against actual, by model and by script)."""

from datetime import date

import dagster as dg

from vsl_pipelines.defs.partitions import closed_days as days
from vsl_pipelines.defs.resources import DatabaseResource
from vsl_pipelines.services.costs import NO_SCRIPT
from vsl_pipelines.services.costs import cost_report as build_cost_report


@dg.asset(
    partitions_def=days,
    group_name="analytics",
    kinds={"postgres"},
    check_specs=[dg.AssetCheckSpec("estimates_within_25_percent", asset="cost_report")],
)
def cost_report(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """What the day's predictions cost: what counts against budgets (actual where billed,
    else the estimate), estimated against actual, by model, by script and by user (ad-hoc
    generations under the script `(ad-hoc)`); a check warns of models whose billed costs are
    more than 25% off their estimates."""
    day = date.fromisoformat(context.partition_key)
    report = build_cost_report(database.database(), day, day)
    metadata: dict[str, dg.RawMetadataValue] = {
        "spent_usd": report["spent_usd"],
        "estimated_usd": report["estimated_usd"],
        "actual_usd": report["actual_usd"],
        "billed_jobs": report["billed_jobs"],
        "estimates_off": dg.MetadataValue.json(report["estimates_off"]),
        "jobs": report["jobs"],
        "failed_jobs": report["failed"],
        "by_model": dg.MetadataValue.json(report["by_model"]),
        "by_script": dg.MetadataValue.json(report["by_script"]),
        "by_user": dg.MetadataValue.json(report["by_user"]),
        "adhoc_usd": report["by_script"].get(NO_SCRIPT, {}).get("spent_usd", 0.0),
    }
    # One numeric entry per model: the UI plots each over the days.
    for model, figures in report["by_model"].items():
        metadata[f"usd_{model}"] = figures["spent_usd"]
    off = report["estimates_off"]
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="estimates_within_25_percent",
                passed=not off,
                severity=dg.AssetCheckSeverity.WARN,
                description="models whose billed cost (actual / estimate) is more than 25% off"
                " their estimates: correct their estimatedTime or pricing in the registry",
                metadata={"estimates_off": dg.MetadataValue.json(off)},
            )
        ],
    )


cost_report_job = dg.define_asset_job(
    "daily_costs", selection=[cost_report], partitions_def=days, description="The day's costs."
)
# Shortly after midnight UTC, the day that just ended.
cost_report_schedule = dg.build_schedule_from_partitioned_job(
    cost_report_job,
    hour_of_day=0,
    minute_of_hour=15,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
