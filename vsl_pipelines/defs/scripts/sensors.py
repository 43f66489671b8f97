"""New scripts become partitions of every asset."""

import dagster as dg

from vsl_pipelines.defs.partitions import known_scripts, scripts_partitions
from vsl_pipelines.defs.resources import DatabaseResource
from vsl_pipelines.services.intake import unregistered_scripts


def build_script_partitions_sensor(interval_s: int = 10) -> dg.SensorDefinition:
    """The sensor registering stored scripts as partitions, ticking every `interval_s` seconds."""

    @dg.sensor(
        name="script_partitions_sensor",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def script_partitions_sensor(
        context: dg.SensorEvaluationContext, database: DatabaseResource
    ) -> dg.SensorResult:
        """Registers every stored script as a partition (the known set is read once per tick)."""
        new = unregistered_scripts(database.resolved_url(), known_scripts(context.instance))
        return dg.SensorResult(
            dynamic_partitions_requests=[scripts_partitions.build_add_request(new)] if new else []
        )

    return script_partitions_sensor
