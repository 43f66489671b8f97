"""`python -m vsl_pipelines.defs.daemon run -w workspace.yaml`: the real `dagster-daemon`, with
its sensor loop at `VSL_SENSOR_LOOP` seconds.

Dagster's sensor daemon looks for due sensors at most every 5 s (`MIN_INTERVAL_LOOP_TIME`, a
module constant with no instance setting), so a sensor's `minimum_interval_seconds` below 5 is
not kept: a 2 s sensor ticks every 5 s. The daemon runs its sensor loop in a thread of this
process and reads the constant at every pass, so setting it before the daemon starts is enough.
Everything else (run queue, launcher, tick and run-key bookkeeping) is the daemon unchanged.
"""

import sys
import warnings

import dagster._daemon.sensor as sensor_daemon
from dagster._daemon.cli import main as daemon_main

from vsl_pipelines.settings import get_settings

LOOP_CONSTANT = "MIN_INTERVAL_LOOP_TIME"


def set_sensor_loop(seconds: float) -> bool:
    """Make the sensor daemon's loop pass every `seconds`; False (and a warning) when this
    Dagster no longer has the constant, and the loop keeps its own pace."""
    if not isinstance(getattr(sensor_daemon, LOOP_CONSTANT, None), int | float):
        warnings.warn(
            f"dagster._daemon.sensor.{LOOP_CONSTANT} is gone; the sensor loop keeps Dagster's pace",
            stacklevel=2,
        )
        return False
    setattr(sensor_daemon, LOOP_CONSTANT, seconds)
    return True


def main() -> None:
    set_sensor_loop(get_settings().sensor_loop_s)
    sys.argv[0] = "dagster-daemon"
    daemon_main()


if __name__ == "__main__":
    main()
