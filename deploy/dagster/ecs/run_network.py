"""Run by the daemon's container before `vsl role daemon`: adds the runs' network to the
instance file's `run_task_kwargs` (the EcsRunLauncher reads no environment variable there).

Runs start in `DAGSTER_RUN_SUBNETS` (comma-separated) with the one security group
`DAGSTER_RUN_SECURITY_GROUP`, a public address only with `DAGSTER_RUN_PUBLIC_IP=ENABLED` (no NAT),
on `DAGSTER_RUN_CAPACITY` (FARGATE, or FARGATE_SPOT: interrupted runs are retried).
"""

import os
from pathlib import Path

import yaml

path = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
instance = yaml.safe_load(path.read_text())
kwargs = instance["run_launcher"]["config"].setdefault("run_task_kwargs", {})
kwargs["networkConfiguration"] = {
    "awsvpcConfiguration": {
        "subnets": [s for s in os.environ["DAGSTER_RUN_SUBNETS"].split(",") if s],
        "securityGroups": [os.environ["DAGSTER_RUN_SECURITY_GROUP"]],
        "assignPublicIp": os.environ.get("DAGSTER_RUN_PUBLIC_IP") or "DISABLED",
    }
}
capacity = os.environ.get("DAGSTER_RUN_CAPACITY") or "FARGATE"
if capacity == "FARGATE":
    kwargs["launchType"] = "FARGATE"
else:
    kwargs["capacityProviderStrategy"] = [{"capacityProvider": capacity, "weight": 1}]
path.write_text(yaml.safe_dump(instance, sort_keys=False))
