"""Scripts as documents (issue 23): a stored script edited into its next version, duplicated,
exported as its current takes were made; every version kept with who saved it and when.

An edit regenerates only what it changes, through the retake's own mechanism: a section whose
picture changed (its keyframe, clip or still) moves to its next take, a voiced section whose
words or voice changed to its next narration take (`sections.current_take`, `narration_take`,
with fresh overrides), a changed soundtrack to its next take (`soundtrack_takes`), and the
script goes back to `queued`; the generation run then submits
the predictions the new takes lack, and nothing else. Every other section keeps its takes and
their decisions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from vsl_pipelines.db import audit
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import review as review_rows
from vsl_pipelines.db import script_versions as version_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import soundtracks as soundtrack_rows
from vsl_pipelines.db.budgets import script_committed_usd
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.script_versions import ScriptVersionRow
from vsl_pipelines.db.scripts import ScriptNotFound, SectionRow
from vsl_pipelines.db.soundtracks import SOUNDTRACK_SECTION
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.registry import Registry, RegistryError
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.domain.script import (
    VARIANT_MARK,
    Generation,
    Script,
    ScriptError,
    Section,
    Voice,
)
from vsl_pipelines.generation.stages import STAGES, plan_stage
from vsl_pipelines.services.compilation import CompileInFlight, request_compile
from vsl_pipelines.services.intake import AddedScript, add_script, check_script
from vsl_pipelines.services.review import unapproved_sections

PICTURE_STAGES = ("keyframe", "clip")


class VersionConflict(ValueError):
    """Another version was saved since the one the edit started from (409)."""


class ScriptBusy(ValueError):
    """The script is compiling: an edit waits until the compile has ended (409)."""


@dataclass(frozen=True)
class SectionChange:
    """A section an edit sends back to generation: what it generates again and the estimate."""

    section_id: str
    picture: bool  # a new take: keyframe and clip (or still)
    narration: bool  # a new narration take
    added: bool
    stages: tuple[str, ...]
    cost_usd: float

    @property
    def reason(self) -> str:
        if self.added:
            return "new section"
        return " and ".join(
            what
            for what, changed in (("picture", self.picture), ("voice", self.narration))
            if changed
        )


@dataclass(frozen=True)
class EditPlan:
    """What saving `script` over the stored version `base_version` does: the sections it
    regenerates (with their estimates), those that keep their takes, those it removes, whether
    the soundtrack is generated, against what the script has spent and its budget."""

    script: Script
    base_version: int
    changes: tuple[SectionChange, ...]
    kept: tuple[str, ...]
    removed: tuple[str, ...]
    soundtrack_cost_usd: float | None
    spent_usd: float
    budget_usd: float | None
    narration_kept: dict[str, str] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        return round(sum(c.cost_usd for c in self.changes) + (self.soundtrack_cost_usd or 0.0), 6)

    @property
    def regenerates(self) -> bool:
        return bool(self.changes) or self.soundtrack_cost_usd is not None

    def summary(self) -> dict[str, Any]:
        """What the version says of itself (`script_versions.changes`, the audit entry)."""
        return {
            "from_version": self.base_version,
            "regenerated": {c.section_id: list(c.stages) for c in self.changes if not c.added},
            "added": [c.section_id for c in self.changes if c.added],
            "removed": list(self.removed),
            "soundtrack": self.soundtrack_cost_usd is not None,
            "estimated_cost_usd": self.cost_usd,
        }


@dataclass(frozen=True)
class SavedEdit:
    plan: EditPlan
    version: int
    compile_requested: bool = False  # it removed the last section waiting for a decision


# The document as its current takes were made -----------------------------------------------


def made_document(
    script: Script,
    rows: Mapping[str, SectionRow],
    sent: Mapping[tuple[str, str, int], Mapping[str, Any]] | None = None,
    soundtrack: int = 1,
) -> dict[str, Any]:
    """`script`'s document with what the current takes were made with over it: a reviewer's
    prompt (the retake's), a reviewer's voice corrections (as the section's own voice); with
    `sent` (each job's input by section, stage and take), each generation's seed as it was
    sent for the current take (`soundtrack`: the soundtrack's), so the document makes the
    same media again."""
    document = script.model_dump(mode="json", exclude_none=True)
    for section_id, section in _written_sections(document):
        row = rows.get(section_id)
        if row is None:
            continue
        prompt = (row.overrides or {}).get("prompt")
        if isinstance(prompt, str) and prompt:
            target = section.get("keyframe") or section.get("clip")
            if target is not None:
                target["prompt"] = prompt
        corrected = (row.narration_overrides or {}).get("params")
        voice = section.get("voice") or document.get("voice")
        if isinstance(corrected, dict) and corrected and voice is not None:
            section["voice"] = {
                "model": voice["model"],
                "params": {**(voice.get("params") or {}), **corrected},
            }
        if sent is None:
            continue
        for stage in PICTURE_STAGES:
            _pin_seed(section.get(stage), sent.get((section_id, stage, row.current_take)))
    if sent is not None:
        made = sent.get((SOUNDTRACK_SECTION, "soundtrack", soundtrack))
        _pin_seed(document.get("soundtrack"), made)
    return document


def _written_sections(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each section of a written document with the id its takes are kept under: a variant's
    (written in full inside its section) as `hook~a`."""
    found = []
    for section in document["sections"]:
        for variant in section.get("variants", []):
            found.append((f"{section['id']}{VARIANT_MARK}{variant['id']}", variant))
        if "variants" not in section:
            found.append((section["id"], section))
    return found


def _pin_seed(generation: dict[str, Any] | None, given: Mapping[str, Any] | None) -> None:
    if generation is not None and given is not None and isinstance(given.get("seed"), int):
        generation["params"] = {**(generation.get("params") or {}), "seed": given["seed"]}


def current_document(conn: Conn, script_id: str, *, seeds: bool = False) -> dict[str, Any]:
    """The stored script as its current takes were made (`made_document`): what the editor
    starts from; with `seeds`, what Export YAML and a duplicate carry."""
    script = script_rows.load_stored_script(conn, script_id)
    rows = {row.id: row for row in script_rows.sections_of(conn, script_id)}
    sent = None
    if seeds:
        sent = {
            (job.section_id, job.stage, job.take): job.input
            for job in job_rows.latest_jobs(conn, script_id)
        }
    return made_document(script, rows, sent, soundtrack_rows.soundtrack_take(conn, script_id))


# Comparing what generation would be asked ------------------------------------------------


def _numbers(value: Any) -> Any:
    """Numbers compared by value (a speed of 1 is a speed of 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return float(value)


def _request(registry: Registry, model: str, params: Mapping[str, Any]) -> str:
    """A generation as its model would receive it (defaults and the model's own on/off
    defaults filled in), as comparable text."""
    spec = registry.models.get(model)
    merged = dict(params)
    if spec is not None:
        with suppress(RegistryError):  # an old document's bad value: compared as written
            merged = {**spec.switches, **spec.build_input(params)}
    return json.dumps(
        [model, {k: _numbers(v) for k, v in merged.items()}], sort_keys=True, default=str
    )


def _generation_request(registry: Registry, generation: Generation | None) -> str | None:
    if generation is None:
        return None
    params = dict(generation.params)
    if generation.prompt is not None:
        params["prompt"] = generation.prompt
    return _request(registry, generation.model, params)


def _picture(registry: Registry, section: Section) -> list[Any]:
    """What a section's picture is generated from: keyframe, clip, still."""
    still = section.still.model_dump() if section.still is not None else None
    return [
        _generation_request(registry, section.keyframe),
        _generation_request(registry, section.clip),
        still,
    ]


def _speech(registry: Registry, script: Script, section: Section) -> str | None:
    """What a section's narration is spoken from (None: it has no voice)."""
    voice: Voice | None = script.voice_of(section)
    if voice is None:
        return None
    return json.dumps([section.narration, _request(registry, voice.model, voice.params)])


# Planning and saving an edit ------------------------------------------------------------------


def _stored_version(conn: Conn, script_id: str) -> int:
    """The script's newest version; a script stored without one gets its version 1 now."""
    latest = version_rows.latest_version(conn, script_id)
    if latest == 0:
        version_rows.keep_first_version(conn, script_id)
        latest = 1
    return latest


def plan_edit(
    conn: Conn,
    script_id: str,
    document: Any,
    registry: Registry,
    *,
    base_version: int,
    source: str,
) -> EditPlan:
    """What saving `document` over version `base_version` of the script would regenerate and
    cost, nothing written. Refuses as a new script is refused (ScriptError at each field), and:
    another id (an edit keeps it), new takes the script's budget cannot pay for (ScriptError at the field); a version saved meanwhile
    (VersionConflict); a compile in flight (ScriptBusy)."""
    if isinstance(document, dict) and document.get("id") != script_id:
        problem = f"an edit keeps the id {script_id!r}; duplicate the script to store a copy"
        raise ScriptError(f"{source}: id: {problem}", [(("id",), problem)])
    script, _ = check_script(document, registry, source=source)
    stored = script_rows.script_row(conn, script_id)
    latest = _stored_version(conn, script_id)
    if base_version != latest:
        newest = version_rows.version_of(conn, script_id, latest)
        by = f" by {newest.saved_by} at {newest.saved_at:%Y-%m-%d %H:%M} UTC" if newest else ""
        raise VersionConflict(
            f"version {latest} of {script_id!r} was saved{by} after the version {base_version}"
            " this edit started from; open the editor again to edit the newest version"
        )
    if stored.status == "compiling" or compilation_rows.in_flight(conn, script_id) is not None:
        raise ScriptBusy(
            f"{script_id!r} is compiling; edit it once the compile has ended (a few minutes)"
        )
    rows = {row.id: row for row in script_rows.sections_of(conn, script_id)}
    before = Script.model_validate(current_document(conn, script_id))
    old = {section.id: section for section in before.sections}
    planned = {
        (job.section_id, job.stage): job.estimated_cost_usd
        for stage in STAGES
        for job in plan_stage(script, registry, stage, {})
    }
    changes: list[SectionChange] = []
    kept: list[str] = []
    narration_kept: dict[str, str] = {}
    for section in script.sections:
        previous = old.get(section.id)
        voiced = script.voice_of(section) is not None
        added = section.id not in rows
        if added or previous is None:
            picture, narration = True, voiced
        else:
            picture = _picture(registry, previous) != _picture(registry, section)
            narration = voiced and _speech(registry, before, previous) != _speech(
                registry, script, section
            )
            corrected = (rows[section.id].narration_overrides or {}).get("text")
            if narration and previous.narration == section.narration and corrected:
                narration_kept[section.id] = corrected  # the reviewer's words still hold
        if not (picture or narration):
            kept.append(section.id)
            continue
        stages = tuple(
            stage
            for stage in (*PICTURE_STAGES, "narration")
            if (section.id, stage) in planned and (narration if stage == "narration" else picture)
        )
        cost = round(sum(planned[(section.id, stage)] for stage in stages), 6)
        changes.append(SectionChange(section.id, picture, narration, added, stages, cost))
    removed = tuple(sid for sid in rows if sid not in {s.id for s in script.sections})
    soundtrack_cost = _soundtrack_cost(conn, registry, script_id, before, script, planned)
    spent = float(script_committed_usd(conn, script_id))
    plan = EditPlan(
        script=script,
        base_version=base_version,
        changes=tuple(changes),
        kept=tuple(kept),
        removed=removed,
        soundtrack_cost_usd=soundtrack_cost,
        spent_usd=spent,
        budget_usd=script.budget_usd,
        narration_kept=narration_kept,
    )
    if script.budget_usd is not None and spent + plan.cost_usd > script.budget_usd + 1e-9:
        problem = (
            f"this edit's new takes cost about {usd_text(plan.cost_usd)} and the script has"
            f" spent {usd_text(spent)}: more than its budget {usd_text(script.budget_usd)};"
            " raise the budget or change fewer sections"
        )
        raise ScriptError(f"{source}: budget_usd: {problem}", [(("budget_usd",), problem)])
    return plan


def _soundtrack_cost(
    conn: Conn,
    registry: Registry,
    script_id: str,
    before: Script,
    script: Script,
    planned: Mapping[tuple[str, str], float],
) -> float | None:
    """The cost of the soundtrack this edit has generated (None: none is): a changed soundtrack
    is made again (its next take, once one was asked for), nothing else with it."""
    if _generation_request(registry, before.soundtrack) == _generation_request(
        registry, script.soundtrack
    ):
        return None
    if script.soundtrack is None:
        return None  # removed: nothing to generate
    return planned.get((SOUNDTRACK_SECTION, "soundtrack"), 0.0)


def preview_edit(
    db: Database,
    script_id: str,
    document: Any,
    registry: Registry,
    *,
    actor: Actor,
    base_version: int,
    source: str,
) -> EditPlan:
    """`plan_edit` for the confirmation the editor shows before anything is spent."""
    with db.connect() as conn:
        _own(conn, actor, script_id)
        return plan_edit(
            conn, script_id, document, registry, base_version=base_version, source=source
        )


def save_edit(
    db: Database,
    script_id: str,
    document: Any,
    registry: Registry,
    *,
    actor: Actor,
    base_version: int,
    source: str,
) -> SavedEdit:
    """Save `document` as the script's next version, in one transaction with the script's row
    locked: the document, its sections (added, removed, moved, edited), a new take for each
    changed picture and a new narration take for each changed voice, the script back to
    `queued` when anything regenerates, the version and its audit entry. Refusals as
    `plan_edit`'s; nothing is written on a refusal."""
    with db.connect() as conn:
        row = script_rows.lock_script(conn, script_id)
        if row.workspace_id != actor.workspace_id:
            raise ScriptNotFound(script_id)
        plan = plan_edit(
            conn, script_id, document, registry, base_version=base_version, source=source
        )
        waiting = bool(plan.removed) and bool(unapproved_sections(conn, script_id))
        script = plan.script
        script_rows.save_document(conn, script)
        if plan.removed:
            script_rows.remove_sections(conn, script_id, list(plan.removed))
        added = {c.section_id for c in plan.changes if c.added}
        for position, section in enumerate(script.sections):
            if section.id in added:
                script_rows.add_section(conn, script_id, section, position)
            else:
                script_rows.update_section(conn, script_id, section, position)
        if plan.soundtrack_cost_usd is not None and job_rows.latest_jobs(
            conn, script_id, "soundtrack"
        ):
            soundtrack_rows.start_new_soundtrack_take(conn, script_id)
        for change in plan.changes:
            if change.added:
                continue
            if change.picture:
                script_rows.start_new_take(conn, script_id, change.section_id, {})
            if change.narration:
                kept = plan.narration_kept.get(change.section_id)
                script_rows.start_new_narration_take(
                    conn, script_id, change.section_id, {"text": kept} if kept else {}
                )
        if plan.regenerates:
            script_rows.requeue_script(conn, script_id)
        version = plan.base_version + 1
        summary = plan.summary()
        version_rows.record_version(
            conn, script_id, version, script.model_dump(mode="json"), actor.name, summary
        )
        audit.record(
            conn,
            actor.workspace_id,
            actor.name,
            "script.edited",
            f"script:{script_id}",
            {"version": version, **summary},
        )
        compiled = waiting and _compile_when_approved(conn, script_id, plan, actor)
    return SavedEdit(plan, version, compiled)


def _compile_when_approved(conn: Conn, script_id: str, plan: EditPlan, actor: Actor) -> bool:
    """An edit that removed the last sections waiting for a decision (nothing regenerating,
    every section left approved) asks for the compile as the last approval would, unless the
    script waits for a person's "Compile"."""
    if plan.regenerates:
        return False
    return _request_compile_if_approved(conn, script_id, actor.name)


def compile_when_back_in_review(db: Database, script_id: str) -> bool:
    """A script that has just come back to review with every section approved asks for its
    compile, as the last approval would (the approval sensor's request, unless the script waits
    for a person's "Compile"): an edit that changed only the soundtrack of an approved script,
    whose new take is now stored, compiles a video with it. Called by whoever moved the script
    to review (`advance_to_review` is True for one caller only), so it asks once; a script with
    a section waiting for a decision (a new one, a draft's) asks nothing. True when it asked."""
    with db.connect() as conn:
        row = script_rows.lock_script(conn, script_id)
        if row.status != "review":
            return False
        return _request_compile_if_approved(conn, script_id, "approval")


def _request_compile_if_approved(conn: Conn, script_id: str, requested_by: str) -> bool:
    """`request_compile` when the script has sections, every one approved, and compiles on its
    last approval; False when it did not ask (or a compile was in flight already)."""
    if not script_rows.sections_of(conn, script_id) or unapproved_sections(conn, script_id):
        return False
    if not review_rows.compile_on_approval(conn, script_id):
        return False
    try:
        request_compile(conn, script_id, requested_by=requested_by)
    except CompileInFlight:
        return False
    return True


# Duplicates, export, history -----------------------------------------------------------------


def _own(conn: Conn, actor: Actor, script_id: str) -> None:
    """ScriptNotFound (as for an unknown script) unless the script is the actor's workspace's."""
    if script_rows.script_workspace(conn, script_id) != actor.workspace_id:
        raise ScriptNotFound(script_id)


def duplicate_document(
    db: Database, script_id: str, *, actor: Actor, new_id: str = "", title: str | None = None
) -> tuple[dict[str, Any], int]:
    """A copy of the script's newest version as its current takes were made (prompts, params
    and seeds), under `new_id` and `title`, with the version it copies."""
    with db.connect() as conn:
        _own(conn, actor, script_id)
        document = current_document(conn, script_id, seeds=True)
        version = _stored_version(conn, script_id)
    document["id"] = new_id
    if title is not None:
        document["title"] = title
    return document, version


def duplicate_script(
    db: Database,
    script_id: str,
    new_id: str,
    registry: Registry,
    *,
    actor: Actor,
    title: str | None = None,
    source: str,
) -> AddedScript:
    """Store a copy of the script (`duplicate_document`) under `new_id` in the same workspace:
    a new script in every way (version 1, queued, nothing generated until its generation
    starts), refused as one (ScriptError, ScriptExists); another workspace's script is
    ScriptNotFound."""
    document, version = duplicate_document(db, script_id, actor=actor, new_id=new_id, title=title)
    return add_script(
        db,
        document,
        registry,
        actor=actor,
        source=source,
        origin={"duplicated_from": script_id, "from_version": version},
    )


def export_document(db: Database, script_id: str, *, actor: Actor) -> dict[str, Any]:
    """The script as its current takes were made, seeds included (Export YAML)."""
    with db.connect() as conn:
        _own(conn, actor, script_id)
        return current_document(conn, script_id, seeds=True)


def editable_document(db: Database, script_id: str, *, actor: Actor) -> tuple[dict[str, Any], int]:
    """What the editor of a stored script starts from, and the version it is."""
    with db.connect() as conn:
        _own(conn, actor, script_id)
        return current_document(conn, script_id), _stored_version(conn, script_id)


def history(db: Database, script_id: str, *, actor: Actor) -> list[ScriptVersionRow]:
    """The script's versions, newest first."""
    with db.connect() as conn:
        _own(conn, actor, script_id)
        _stored_version(conn, script_id)
        return version_rows.versions_of(conn, script_id)


def stored_version(
    db: Database, script_id: str, version: int, *, actor: Actor
) -> ScriptVersionRow | None:
    with db.connect() as conn:
        _own(conn, actor, script_id)
        return version_rows.version_of(conn, script_id, version)
