"""Taking a script in: validation against the registry, the budget check, storage. One path for
the CLI, the API and the launcher, so all three refuse the same scripts with the same messages.

Registering the script's Dagster partition is the caller's (`on_stored`); without it the
scripts sensor registers the partition on its next tick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vsl_pipelines.db import audit
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.domain.script import Script, ScriptError, parse_script
from vsl_pipelines.generation.stages import BudgetExceeded, check_budget


@dataclass(frozen=True)
class AddedScript:
    script: Script
    estimated_cost_usd: float
    partition_registered: bool

    def summary(self) -> dict[str, Any]:
        return {
            "script_id": self.script.id,
            "sections": len(self.script.sections),
            "estimated_cost_usd": self.estimated_cost_usd,
            "partition_registered": self.partition_registered,
        }


def add_script(
    db: Database,
    document: Any,
    registry: Registry,
    *,
    actor: Actor,
    source: str,
    source_path: str | None = None,
    on_stored: Callable[[str], bool] | None = None,
) -> AddedScript:
    """Validate `document` (ScriptError naming `source` and the field), refuse it over budget,
    store it in the actor's workspace (ScriptExists for a taken id); nothing is stored on
    error."""
    script, estimate = check_script(document, registry, source=source)
    with db.connect() as conn:
        script_rows.insert_script(conn, script, source_path, actor.workspace_id)
        audit.record(
            conn,
            actor.workspace_id,
            actor.name,
            "script.created",
            f"script:{script.id}",
            {"sections": len(script.sections), "estimated_cost_usd": estimate},
        )
    registered = on_stored(script.id) if on_stored else False
    return AddedScript(script, estimate, registered)


def check_script(document: Any, registry: Registry, *, source: str) -> tuple[Script, float]:
    """What `add_script` checks before storing (the studio's live estimate asks the same):
    the valid script and its estimated cost, or ScriptError naming the field."""
    script = parse_script(document, source, registry)
    try:
        return script, check_budget(script, registry)
    except BudgetExceeded as exc:
        raise ScriptError(f"{source}: budget_usd: {exc}", [(("budget_usd",), str(exc))]) from None


def unregistered_scripts(db: Database, known: set[str]) -> list[str]:
    """Stored scripts that are not partitions yet."""
    with db.connect() as conn:
        return [sid for sid in script_rows.script_ids(conn) if sid not in known]


def queued_batch(db: Database, known: set[str], batch: int) -> list[str]:
    """Up to `batch` queued scripts, oldest first, among those registered as partitions."""
    with db.connect() as conn:
        return [sid for sid in script_rows.script_ids(conn, ("queued",)) if sid in known][:batch]
