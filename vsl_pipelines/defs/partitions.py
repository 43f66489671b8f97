"""One dynamic partition per script (never per clip: the UI slows past ~100k partitions), and
one partition per UTC day for what is counted by day (ad-hoc media, costs)."""

from pathlib import Path

import dagster as dg

SCRIPTS = "scripts"
scripts_partitions = dg.DynamicPartitionsDefinition(name=SCRIPTS)
# Days that have ended (the cost report's), and days up to today (ad-hoc media are collected
# the day they are made).
closed_days = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")
days_to_today = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC", end_offset=1)


def register_partition(script_id: str, dagster_home: Path) -> bool:
    """Add the script's partition to the instance in `dagster_home`; False when there is none
    yet (the scripts sensor then registers it on its next tick)."""
    if not (dagster_home / "dagster.yaml").is_file():
        return False
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        if not instance.has_dynamic_partition(SCRIPTS, script_id):
            instance.add_dynamic_partitions(SCRIPTS, [script_id])
    return True


def known_scripts(instance: dg.DagsterInstance) -> set[str]:
    """The scripts registered as partitions (read once per tick)."""
    return set(instance.get_dynamic_partitions(SCRIPTS))
