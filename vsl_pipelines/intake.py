"""Taking a validated script in: budget check, storage, partition; shared by the CLI, the API
and the launcher so all three refuse the same scripts with the same messages."""

from __future__ import annotations

import os
from pathlib import Path

from vsl_pipelines.db.connection import connect
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, ScriptError
from vsl_pipelines.generation.plan import BudgetExceeded, check_budget
from vsl_pipelines.settings import get_settings


def store_script(
    database_url: str, script: Script, registry: Registry, source: str, source_path: str | None
) -> float:
    """Refuse a script over its budget (ScriptError naming `budget_usd`), else store it and
    return its estimate; an id already stored raises ScriptExists. Nothing is stored on error."""
    try:
        estimate = check_budget(script, registry)
    except BudgetExceeded as exc:
        raise ScriptError(f"{source}: budget_usd: {exc}") from None
    with connect(database_url) as conn:
        insert_script(conn, script, source_path)
    return estimate


def register_partition(script_id: str) -> bool:
    """Add the script's partition to the Dagster instance (`DAGSTER_HOME`, or the one `make dev`
    set up); without one, the scripts sensor registers it on its next tick."""
    home = os.environ.get("DAGSTER_HOME") or str(get_settings().data_dir / "dagster_home")
    if not (Path(home) / "dagster.yaml").is_file():
        return False
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(home)) as instance:
        if not instance.has_dynamic_partition("scripts", script_id):
            instance.add_dynamic_partitions("scripts", [script_id])
    return True
