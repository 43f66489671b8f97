"""Taking a script in: validation against the registry, the budget check, storage. One path for
the CLI, the API and the launcher, so all three refuse the same scripts with the same messages.

Registering the script's Dagster partition is the caller's (`on_stored`); without it the
scripts sensor registers the partition on its next tick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vsl_pipelines.db import audit, script_versions
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.domain.script import FieldPath, Generation, Script, ScriptError, parse_script
from vsl_pipelines.generation.stages import BudgetExceeded, check_budget

MAX_SEED = 2**31 - 1  # as a reviewer's seed (`services.review`) and the stages' own seeds


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
    origin: dict[str, Any] | None = None,
) -> AddedScript:
    """Validate `document` (ScriptError naming `source` and the field), refuse it over budget,
    store it in the actor's workspace as its version 1 (ScriptExists for a taken id); nothing
    is stored on error. `origin` says where the document came from (a duplicate's script and
    version), for the audit log and the version."""
    script, estimate = check_script(document, registry, source=source)
    detail = {**(origin or {}), "sections": len(script.sections), "estimated_cost_usd": estimate}
    with db.connect() as conn:
        script_rows.insert_script(
            conn, script, source_path, actor.workspace_id, saved_by=actor.name, changes=detail
        )
        audit.record(
            conn, actor.workspace_id, actor.name, "script.created", f"script:{script.id}", detail
        )
    registered = on_stored(script.id) if on_stored else False
    return AddedScript(script, estimate, registered)


def check_script(document: Any, registry: Registry, *, source: str) -> tuple[Script, float]:
    """What `add_script` checks before storing (the studio's live estimate asks the same):
    the valid script and its estimated cost, or ScriptError naming the field."""
    script = parse_script(document, source, registry)
    problems = seed_problems(script)
    if problems:
        text = "; ".join(f"{'.'.join(str(p) for p in path)}: {m}" for path, m in problems)
        raise ScriptError(f"{source}: {text}", problems)
    try:
        return script, check_budget(script, registry)
    except BudgetExceeded as exc:
        raise ScriptError(f"{source}: budget_usd: {exc}", [(("budget_usd",), str(exc))]) from None


def seed_problems(script: Script) -> list[tuple[FieldPath, str]]:
    """A seed given in a generation's params must be a whole number from 0 (a model would
    refuse anything else only after the script was stored and its budget reserved)."""
    generations: list[tuple[FieldPath, Generation | None]] = [
        (("soundtrack",), script.soundtrack),
        *(
            (("sections", index, slot), getattr(section, slot))
            for index, section in enumerate(script.sections)
            for slot in ("keyframe", "clip")
        ),
    ]
    problems: list[tuple[FieldPath, str]] = []
    for path, generation in generations:
        seed = generation.params.get("seed") if generation is not None else None
        if seed is None:
            continue
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            problems.append(
                ((*path, "params", "seed"), f"must be a whole number from 0 to {MAX_SEED}")
            )
    return problems


def unregistered_scripts(db: Database, known: set[str]) -> list[str]:
    """Stored scripts that are not partitions yet."""
    with db.connect() as conn:
        return [sid for sid in script_rows.script_ids(conn) if sid not in known]


@dataclass(frozen=True)
class QueuedScript:
    """A queued script and its current version (a saved edit queues it again)."""

    script_id: str
    version: int

    @property
    def run_key(self) -> str:
        """One generation run per version: an edit is generated again, a repeat is not."""
        return f"generate:{self.script_id}:v{self.version}"


def queued_batch(
    db: Database, known: set[str], batch: int, *, edited_only: bool = False
) -> list[QueuedScript]:
    """Up to `batch` queued scripts, oldest first, among those registered as partitions (only
    those queued again by an edit, with `edited_only`)."""
    with db.connect() as conn:
        rows = script_versions.queued_versions(conn)
    queued = [QueuedScript(sid, version) for sid, version in rows if sid in known]
    return [q for q in queued if q.version > 1 or not edited_only][:batch]
