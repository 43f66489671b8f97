"""The script editor's page, for a new script (`routes`) and for an edit of a stored one
(`documents`): a document in its fields with the registry's plain words for each parameter,
named transitions and voices, renditions, reframing and landing-page files, a section's hook
variants named (what the fields do not show rides along unchanged in hidden fields), and its
live estimate (what a new script costs, or what an edit regenerates and costs before anything
is spent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor
from vsl_pipelines.domain.script import ScriptError, parse_script
from vsl_pipelines.generation.stages import estimate_script_cost
from vsl_pipelines.services.intake import check_script
from vsl_pipelines.services.script_versions import (
    EditPlan,
    ScriptBusy,
    VersionConflict,
    preview_edit,
)
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.studio import forms
from vsl_pipelines.web.studio.pages import STUDIO, page

EDITOR_SOURCE = "editor"


@dataclass(frozen=True)
class EditorMode:
    """Where the editor posts, and what its main button does: store a new script, or (with a
    `script_id`) review an edit of version `base_version` of a stored one."""

    action: str
    estimate: str
    script_id: str | None = None
    base_version: int = 0
    title: str = ""

    @property
    def editing(self) -> bool:
        return self.script_id is not None

    @property
    def draft_key(self) -> str:
        """Where the browser keeps this editor's draft (`editor.js`)."""
        if self.script_id is None:
            return "vsl-draft:new"
        return f"vsl-draft:{self.script_id}:v{self.base_version}"


NEW_SCRIPT = EditorMode(action=f"{STUDIO}/scripts/new", estimate=f"{STUDIO}/scripts/estimate")


def edit_mode(script_id: str, base_version: int, title: str) -> EditorMode:
    base = f"{STUDIO}/scripts/{script_id}/edit"
    return EditorMode(base, f"{base}/estimate", script_id, base_version, title)


def render(
    request: Request,
    config: ApiConfig,
    document: dict[str, Any],
    *,
    mode: EditorMode = NEW_SCRIPT,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    imported: str | None = None,
    estimate: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The editor showing `document` (possibly invalid) and each problem at its field."""
    return page(
        "editor.html",
        request,
        status_code=status_code,
        doc=document,
        errors=errors or {},
        registry=config.registry,
        models_for=forms.models_for,
        param_inputs=forms.editor_param_inputs,
        section_visual=forms.section_visual,
        slot_tasks=forms.SLOT_TASKS,
        transition_groups=forms.TRANSITION_GROUPS,
        transition_seconds=forms.TRANSITION_SECONDS,
        kept_fields=forms.kept_fields,
        kept_section=forms.kept_section,
        variant_ids=forms.variant_ids,
        rendition_choices=forms.rendition_choices,
        caption_file_choices=forms.caption_file_choices,
        delivery_switch=forms.delivery_switch,
        reframes=forms.REFRAMES,
        delivery_switches=forms.DELIVERY_SWITCHES,
        estimate=estimate if estimate is not None else new_estimate(config.registry, document),
        imported=imported,
        mode=mode,
    )


def new_estimate(registry: Registry, document: dict[str, Any]) -> dict[str, Any]:
    """The cost estimate and budget check of `vsl scripts add`, or the problems in the way,
    each naming its field."""
    candidate = {**document, "id": document.get("id") or "new-script"}
    try:
        script, total = check_script(candidate, registry, source=EDITOR_SOURCE)
    except ScriptError as exc:
        estimate: dict[str, Any] = {"problems": forms.problem_texts(exc, candidate, registry)}
        if any(path == ("budget_usd",) for path, _ in exc.problems):
            try:
                script = parse_script(candidate, EDITOR_SOURCE, registry)
                estimate.update(estimate_script_cost(script, registry))
            except ScriptError:
                pass
        return estimate
    return {**estimate_script_cost(script, registry), "total_usd": total, "problems": []}


def edit_estimate(
    config: ApiConfig,
    actor: Actor,
    mode: EditorMode,
    document: dict[str, Any],
) -> dict[str, Any]:
    """What saving the editor's fields as the next version would regenerate and cost, or the
    problems in the way (nothing is written)."""
    assert mode.script_id is not None
    try:
        plan = preview_edit(
            config.db,
            mode.script_id,
            document,
            config.registry,
            actor=actor,
            base_version=mode.base_version,
            source=EDITOR_SOURCE,
        )
    except ScriptError as exc:
        return {"edit": True, "problems": forms.problem_texts(exc, document, config.registry)}
    except (VersionConflict, ScriptBusy) as exc:
        return {"edit": True, "problems": [str(exc)]}
    return {"edit": True, "problems": [], **plan_view(plan)}


def plan_view(plan: EditPlan) -> dict[str, Any]:
    """What the estimate and the confirmation show of an edit."""
    stage_words = {"keyframe": "keyframe", "clip": "clip", "narration": "voice"}
    return {
        "changes": [
            {
                "section": change.section_id,
                "reason": change.reason,
                "stages": ", ".join(stage_words.get(s, s) for s in change.stages) or "still",
                "usd": change.cost_usd,
            }
            for change in plan.changes
        ],
        "soundtrack_usd": plan.soundtrack_cost_usd,
        "kept": list(plan.kept),
        "removed": list(plan.removed),
        "total_usd": plan.cost_usd,
        "spent_usd": plan.spent_usd,
        "budget_usd": plan.budget_usd,
        "regenerates": plan.regenerates,
    }


def yaml_download(document: dict[str, Any], name: str) -> Response:
    """A script document as a YAML file download (the editor's, a stored script's)."""
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}.yaml"'},
    )
