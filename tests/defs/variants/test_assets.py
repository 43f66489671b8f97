"""The daily variant report: the asset records the report of a script's cuts as metadata, and
the schedule asks for each registered script whose player had events in the day before."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from tests.fixtures.watch import PublishCut
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.defs.resources import DatabaseResource
from vsl_pipelines.defs.variants.assets import build_variant_report


def test_the_report_is_recorded_and_the_schedule_asks_for_scripts_with_events(
    db: Database, publish_cut: PublishCut
) -> None:
    cut = publish_cut("hooked-launch")
    publish_cut("quiet-launch")
    with db.connect() as conn:
        other = watch_rows.ensure_cut(conn, cut.compilation_id, "b")
        ids = {c.public_id: c.id for c in watch_rows.cuts_of_compilation(conn, cut.compilation_id)}
        for n in range(4):
            for kind in ("view", "play", "cta") if n < 3 else ("view",):
                watch_rows.record_event(conn, ids[cut.cut], f"viewer-{n:04d}", kind)
            watch_rows.record_event(conn, ids[other.public_id], f"viewer-{n:04d}", "view")
    asset, _job, schedule = build_variant_report(min_viewers=3)
    resources = {"database": DatabaseResource(url=db.url)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("scripts", ["hooked-launch", "quiet-launch"])
        result = dg.materialize(
            [asset], partition_key="hooked-launch", resources=resources, instance=instance
        )
        [materialization] = result.asset_materializations_for_node("variant_report")
        context = dg.build_schedule_context(
            instance=instance,
            resources=resources,
            scheduled_execution_time=datetime.now(UTC) + timedelta(hours=1),
        )
        requests = list(schedule(context))  # type: ignore[arg-type]
    metadata = materialization.metadata
    assert metadata["leader"].value == cut.cut  # 3 of 4 clicked against none of 4
    assert metadata[f"viewers_{cut.cut}"].value == 4
    assert metadata[f"p_best_{cut.cut}"].value > 0.95
    cuts = {c["cut"]: c for c in metadata["cuts"].value}  # type: ignore[attr-defined]
    assert cuts[other.public_id]["ctaRate"] == 0.0 and cuts[cut.cut]["ctaRate"] == 0.75
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("hooked-launch", f"variants:hooked-launch:{context.scheduled_execution_time:%Y-%m-%d}")
    ]
