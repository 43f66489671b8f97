"""One dynamic partition per script (never per clip: the UI slows past ~100k partitions)."""

import dagster as dg

scripts_partitions = dg.DynamicPartitionsDefinition(name="scripts")
