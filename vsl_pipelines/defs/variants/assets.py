"""Which hook wins, daily per script: the variant report of its cuts (viewers, play rate,
retention, CTA rate, P(best), the leader once named) recorded as the asset's metadata, over
`services.watch.script_report`; a daily schedule asks for each script whose player had events."""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from vsl_pipelines.defs.partitions import known_scripts, scripts_partitions
from vsl_pipelines.defs.resources import DatabaseResource
from vsl_pipelines.defs.tags import run_tags
from vsl_pipelines.services.watch import report_document, script_report, scripts_with_events


def build_variant_report(
    min_viewers: int,
) -> tuple[dg.AssetsDefinition, Any, dg.ScheduleDefinition]:
    """The asset (a leader named once every cut has `min_viewers`), its job (an unresolved
    asset job) and schedule."""

    @dg.asset(partitions_def=scripts_partitions, group_name="analytics", kinds={"postgres"})
    def variant_report(
        context: dg.AssetExecutionContext, database: DatabaseResource
    ) -> dg.MaterializeResult:
        """Which hook wins: per cut of the script, the landing-page player's viewers, play
        rate, 25/50/75/100% retention, CTA rate and the probability that it is best."""
        report = script_report(database.database(), context.partition_key, min_viewers=min_viewers)
        document = report_document(report)
        metadata: dict[str, dg.RawMetadataValue] = {
            "leader": report.leader or "none",
            "reason": report.reason,
            "metric": report.metric,
            "min_viewers": report.min_viewers,
            "cuts": dg.MetadataValue.json(document["cuts"]),
        }
        for arm in report.arms:  # one number per cut: the UI plots each over the days
            metadata[f"viewers_{arm.cut}"] = arm.viewers
            metadata[f"p_best_{arm.cut}"] = arm.p_best
        return dg.MaterializeResult(metadata=metadata)

    job = dg.define_asset_job(
        "daily_variant_report",
        selection=[variant_report],
        partitions_def=scripts_partitions,
        description="Which hook wins, for one script.",
    )

    @dg.schedule(
        name="variant_report_schedule",
        cron_schedule="30 0 * * *",
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def variant_report_schedule(
        context: dg.ScheduleEvaluationContext, database: DatabaseResource
    ) -> list[dg.RunRequest]:
        """Each script whose player had events in the day before the tick."""
        now = context.scheduled_execution_time or datetime.now(UTC)
        since = now - timedelta(days=1)
        known = known_scripts(context.instance)
        return [
            dg.RunRequest(
                run_key=f"variants:{script_id}:{now:%Y-%m-%d}",
                partition_key=script_id,
                tags=run_tags(script_id, "variants"),
            )
            for script_id in scripts_with_events(database.database(), since)
            if script_id in known
        ]

    return variant_report, job, variant_report_schedule
