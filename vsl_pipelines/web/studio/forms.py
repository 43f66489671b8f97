"""The studio's forms: the script editor's fields to a script document (the YAML format) and
back, the problems `services.intake` finds mapped to the field that shows each, and the small
decision, retry and compile forms.

Editor fields are flat names: `title`, `budget_usd`, `sections-0-narration`,
`sections-0-keyframe-model`, `sections-0-keyframe-param-aspect_ratio`, `output-size`, ...
Sections are numbered in the order the form lists them; `op` says what a post asks for.
What the fields do not show (a section's hook variants, the watch page's call-to-action and end,
...) rides along unchanged as JSON in the hidden `kept` and `sections-N-kept` fields, so an edit
never loses what it did not touch.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import HTTPException

from vsl_pipelines.domain.registry import ModelSpec, Registry
from vsl_pipelines.domain.script import DocumentError, FieldPath, ScriptError, check_document
from vsl_pipelines.media.options import XFADE_TRANSITIONS, VoiceTiming
from vsl_pipelines.media.profile import RENDITION_ASPECTS, SIZE_PRESETS
from vsl_pipelines.services.intake import MAX_SEED

MAX_EDITOR_BYTES = 1_000_000  # as a script posted to the API
MAX_EDITOR_FIELDS = 6_000  # 200 sections of ~25 fields
MAX_SMALL_FORM_BYTES = 16_384
MAX_SMALL_FORM_FIELDS = 16

# What a section shows: a keyframe animated into a clip, a clip from text, a keyframe held.
VISUALS = {
    "image-clip": "Keyframe image, animated into a clip",
    "text-clip": "Clip from text",
    "still": "Keyframe image held as a still",
}
SLOT_TASKS = {
    "keyframe": "text-to-image",
    "image-clip": "image-to-video",
    "text-clip": "text-to-video",
    "soundtrack": "text-to-audio",
    "voice": "text-to-speech",
}
HIDDEN_PARAMS = {"prompt", "seed"}
# A decision form's own fields: a voice parameter of the same name is not offered there.
DECISION_FIELDS = {"csrf", "take", "subject", "note", "text", "prompt", "seed", "params"}
OUTPUT_FORMATS = ("mp4", "webm", "avi")
TRANSITIONS = ("", *(f"{name}:0.5" for name in sorted(XFADE_TRANSITIONS)))
# Each transition by what a viewer sees, grouped; every one of `XFADE_TRANSITIONS` is named.
TRANSITION_GROUPS: dict[str, dict[str, str]] = {
    "Fades": {
        "fade": "Cross-fade",
        "dissolve": "Dissolve",
        "fadeblack": "Fade through black",
        "fadewhite": "Fade through white",
        "fadegrays": "Fade through grey",
        "distance": "Blend by distance",
        "pixelize": "Pixelate",
    },
    "Wipes": {
        "wipeleft": "Wipe to the left",
        "wiperight": "Wipe to the right",
        "wipeup": "Wipe upwards",
        "wipedown": "Wipe downwards",
    },
    "Slides": {
        "slideleft": "Slide to the left",
        "slideright": "Slide to the right",
        "slideup": "Slide upwards",
        "slidedown": "Slide downwards",
        "smoothleft": "Smooth slide to the left",
        "smoothright": "Smooth slide to the right",
        "smoothup": "Smooth slide upwards",
        "smoothdown": "Smooth slide downwards",
    },
    "Shapes": {
        "circlecrop": "Circle closing through black",
        "rectcrop": "Rectangle closing through black",
        "circleopen": "Circle opening",
        "circleclose": "Circle closing",
        "radial": "Clock sweep",
        "horzopen": "Opening sideways",
        "horzclose": "Closing sideways",
        "vertopen": "Opening up and down",
        "vertclose": "Closing up and down",
        "diagtl": "Diagonal from the top left",
        "diagtr": "Diagonal from the top right",
        "diagbl": "Diagonal from the bottom left",
        "diagbr": "Diagonal from the bottom right",
    },
    "Slices and squeezes": {
        "hlslice": "Slices to the left",
        "hrslice": "Slices to the right",
        "vuslice": "Slices upwards",
        "vdslice": "Slices downwards",
        "squeezeh": "Squeeze sideways",
        "squeezev": "Squeeze up and down",
        "zoomin": "Zoom in",
    },
}
TRANSITION_SECONDS = 0.5
NO_TRANSITION = "Straight cut (none)"


def transition_label(value: str) -> str:
    """A transition (`fade:0.5`) as the editor names it (`Cross-fade`); one it does not name
    (an imported length) keeps its code."""
    if not value:
        return NO_TRANSITION
    name, _, seconds = value.partition(":")
    for names in TRANSITION_GROUPS.values():
        if name in names:
            try:
                other = bool(seconds) and float(seconds) != TRANSITION_SECONDS
            except ValueError:
                return value
            return f"{names[name]} ({seconds} s)" if other else names[name]
    return value


# The seed as the editor names it: what it does, not what it is.
SEED_LABEL = "Variation"
SEED_HELP = (
    "A number that fixes the result: the same number with the same settings gives the same"
    " result. Empty: a new one for each take."
)
SIZES = ("", *SIZE_PRESETS)
# How voiced sections follow their voice (`output.timing`): the choices as the editor words them.
FITS = (
    ("hold", "hold its last picture"),
    ("slow", "slow it down, then hold"),
    ("loop", "play it again from the start"),
)
CLIP_AUDIO = (("lower", "lowered"), ("keep", "kept"), ("drop", "dropped"))
TIMING_DEFAULTS = VoiceTiming()
TIMING_NUMBERS = ("pad_s", "max_slowdown", "lowered_db")
# The renditions, reframing and landing-page files (`output`) as the editor words them.
_ASPECT_WORDS = {
    "16:9": "16:9 landscape",
    "9:16": "9:16 portrait (Reels, Shorts, TikTok)",
    "1:1": "1:1 square (feeds)",
}
RENDITION_WORDS = {aspect: _ASPECT_WORDS.get(aspect, aspect) for aspect in RENDITION_ASPECTS}
REFRAMES = (
    ("", "the default (cropping in a version of another shape)"),
    ("crop", "cropping around the subject"),
    ("blur", "a blurred background"),
)
DELIVERY_SWITCHES = (
    ("hls", "adaptive streaming (HLS)"),
    ("chapters", "chapters"),
    ("poster", "a poster"),
)
CAPTION_FILES = {"vtt": "WebVTT captions file", "srt": "SRT captions file"}
# What the editor's fields show; the rest of a document is carried in the hidden `kept` fields.
SHOWN = ("id", "title", "budget_usd", "soundtrack", "voice", "output", "sections")
SHOWN_OUTPUT = (
    *("format", "size", "transition", "captions", "timing"),
    *("renditions", "reframe", "delivery"),
)
SHOWN_SECTION = ("id", "narration", "keyframe", "clip", "still", "voice")
KEPT = "kept"
_LISTED = re.compile(r"(output-renditions|output-delivery-captions)-(\d{1,2})")
_SECTION_FIELD = re.compile(r"sections-(\d{1,4})-(.+)")
_PARAMETER = re.compile(r"parameter '([A-Za-z0-9_]+)'")
_INTEGER = re.compile(r"-?\d{1,15}")
_NUMBER = re.compile(r"-?(\d{1,15}(\.\d{0,9})?|\.\d{1,9})")


@dataclass(frozen=True)
class ParamInput:
    """One model parameter as a form input: a select of choices, a bounded number, or text; a
    select of true and false is `boolean` (the editor shows a checkbox, ticked when `default`,
    the value the model uses unless told, is "true"). `label`, `help`, `advanced` and the
    choices' plain names come from the registry."""

    name: str
    kind: str  # select | number | text
    choices: list[str] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    step: str = "any"
    default: str = ""
    label: str = ""
    help: str = ""
    advanced: bool = False
    boolean: bool = False
    choice_names: dict[str, str] = field(default_factory=dict)

    def choice_name(self, value: str) -> str:
        """A choice as the registry names it (else as it is)."""
        return self.choice_names.get(value, value)


def param_inputs(spec: ModelSpec, *, with_seed: bool = False) -> list[ParamInput]:
    """The inputs of a model's parameters, from the registry's constraints, defaults and plain
    words; the seed (the editor's "Variation") only `with_seed`."""
    inputs = []
    for name in spec.supported_params:
        # The narration is the text input of a voice; an image input comes from the keyframe.
        if name in (spec.image_input, spec.text_input):
            continue
        if name in HIDDEN_PARAMS and not (with_seed and name == "seed"):
            continue
        bare = _bare_input(spec, name)
        inputs.append(
            replace(
                bare,
                label=spec.labels.get(name) or (SEED_LABEL if name == "seed" else _plain(name)),
                help=spec.help.get(name) or (SEED_HELP if name == "seed" else ""),
                advanced=name in spec.advanced,
                choice_names=spec.choice_labels.get(name, {}),
            )
        )
    return inputs


def _plain(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _bare_input(spec: ModelSpec, name: str) -> ParamInput:
    """A parameter's input from its constraint and default (or the model's own on/off)."""
    if name == "seed":
        return ParamInput(name, "number", min=0, max=MAX_SEED, step="1")
    constraint = spec.constraints.get(name)
    default = spec.defaults.get(name)
    if default is None and name in spec.switches:
        default = spec.switches[name]
    shown_default = "" if default is None else _text(default)
    if constraint is not None and constraint.choices is not None:
        choices = [_text(c) for c in constraint.choices]
        return ParamInput(name, "select", choices, default=shown_default)
    if isinstance(default, bool):
        return ParamInput(name, "select", ["true", "false"], default=shown_default, boolean=True)
    if constraint is not None and (constraint.min is not None or constraint.max is not None):
        # Whole steps for a whole parameter (a multiple, or an int default between whole
        # bounds); a speed from 0.1 to 5 whose default is 1 takes any number.
        bounds = (constraint.min, constraint.max)
        integral = constraint.multiple_of or (
            isinstance(default, int) and all(b is None or float(b).is_integer() for b in bounds)
        )
        step = str(constraint.multiple_of or 1) if integral else "any"
        return ParamInput(
            name, "number", min=constraint.min, max=constraint.max, step=step, default=shown_default
        )
    return ParamInput(name, "text", default=shown_default)


def editor_param_inputs(spec: ModelSpec) -> list[ParamInput]:
    """The editor's inputs of a model: every parameter it may set, the variation (seed) too,
    so a document's seeds survive the editor."""
    return param_inputs(spec, with_seed=True)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def models_for(registry: Registry, task: str) -> list[ModelSpec]:
    return [spec for spec in registry if spec.task == task]


def _typed(value: str, spec: ModelSpec | None, name: str) -> Any:
    """A parameter's text as the registry's value: its choice, a bool, a number, else text."""
    if spec is not None:
        constraint = spec.constraints.get(name)
        if constraint is not None and constraint.choices is not None:
            for choice in constraint.choices:
                if _text(choice) == value:
                    return choice
            return value
        boolean = isinstance(spec.defaults.get(name), bool) or name in spec.switches
        if boolean and value in ("true", "false"):
            return value == "true"
    if _INTEGER.fullmatch(value):
        return int(value)
    if _NUMBER.fullmatch(value):
        return float(value)
    return value


def typed_param(value: str, spec: ModelSpec, name: str) -> Any:
    """A parameter's form text as the registry's value (a narration rejection's voice)."""
    return _typed(value, spec, name)


def _number(value: str | None) -> Any:
    """A number field: the number, or the text as given (the checks then name the field)."""
    if value is None:
        return None
    if _INTEGER.fullmatch(value):
        return int(value)
    if _NUMBER.fullmatch(value):
        return float(value)
    return value


@dataclass
class EditorForm:
    """A posted editor: the document it describes (possibly invalid) and what was asked."""

    document: dict[str, Any]
    op: str


def _generation(
    fields: dict[str, str], prefix: str, registry: Registry, task: str
) -> dict[str, Any]:
    """One generation from its fields. A model of another kind (the section's visual changed)
    or none is replaced by the slot's first model, whose parameters start from their
    defaults; an unknown model stays, for the checks to name."""
    model = fields.get(f"{prefix}-model", "")
    spec = registry.models.get(model)
    switched = not model or (spec is not None and spec.task != task)
    if switched:
        available = models_for(registry, task)
        spec = available[0] if available else None
        model = spec.id if spec is not None else model
    generation: dict[str, Any] = {"model": model}
    prompt = fields.get(f"{prefix}-prompt")
    if prompt is not None:
        generation["prompt"] = prompt
    marker = f"{prefix}-param-"
    params = {
        name[len(marker) :]: _typed(value, spec, name[len(marker) :])
        for name, value in fields.items()
        if name.startswith(marker) and not switched
    }
    if not switched:
        _checkboxes(fields, prefix, params)
    if params:
        generation["params"] = params
    return generation


def _checkboxes(fields: dict[str, str], prefix: str, params: dict[str, Any]) -> None:
    """On/off parameters shown as checkboxes: `{prefix}-bool-{name}` carries the value the
    model uses unless told, and the box (`{prefix}-param-{name}`, sent only when ticked) says
    on or off. A box left as the model would have it sets nothing; one changed, its value."""
    marker = f"{prefix}-bool-"
    for name, default in fields.items():
        if not name.startswith(marker):
            continue
        param = name[len(marker) :]
        ticked = fields.get(f"{prefix}-param-{param}") in ("true", "on")
        if ticked == (default == "true"):
            params.pop(param, None)
        else:
            params[param] = ticked


def kept_fields(document: dict[str, Any]) -> str:
    """What the editor does not show of a document (its top level and `output`), as the hidden
    `kept` field's JSON; empty when it shows everything."""
    kept = {k: v for k, v in document.items() if k not in SHOWN}
    output = document.get("output")
    if isinstance(output, dict):
        hidden = {k: v for k, v in output.items() if k not in SHOWN_OUTPUT}
        if hidden:
            kept["output"] = hidden
    return json.dumps(kept, separators=(",", ":")) if kept else ""


def kept_section(section: dict[str, Any]) -> str:
    """What the editor does not show of a section, as its hidden `sections-N-kept` field: a
    section with hook variants all but its id (the editor names its variants, YAML edits
    them), any other its reframing and the like."""
    if not isinstance(section, dict):
        return ""
    shown = ("id",) if "variants" in section else SHOWN_SECTION
    kept = {k: v for k, v in section.items() if k not in shown}
    return json.dumps(kept, separators=(",", ":")) if kept else ""


def variant_ids(section: dict[str, Any]) -> list[str]:
    """The ids of a section's hook variants (none: a section of its own)."""
    variants = section.get("variants") if isinstance(section, dict) else None
    if not isinstance(variants, list):
        return []
    return [str(v.get("id", "?")) if isinstance(v, dict) else "?" for v in variants]


def rendition_choices(output: Any) -> list[tuple[str, str, bool]]:
    """The renditions' boxes (aspect, words, ticked): the document's in their order (the first
    is the main video), then the others."""
    return _listed_choices(output, "renditions", RENDITION_WORDS)


def caption_file_choices(output: Any) -> list[tuple[str, str, bool]]:
    """The caption files' boxes (format, words, ticked), the document's first."""
    delivery = output.get("delivery") if isinstance(output, dict) else None
    return _listed_choices(delivery, "captions", CAPTION_FILES)


def _listed_choices(parent: Any, name: str, words: dict[str, str]) -> list[tuple[str, str, bool]]:
    given = parent.get(name) if isinstance(parent, dict) else None
    chosen = [str(v) for v in given] if isinstance(given, list) else []
    return [
        *((value, words.get(value, value), True) for value in dict.fromkeys(chosen)),
        *((value, text, False) for value, text in words.items() if value not in chosen),
    ]


def delivery_switch(output: Any, name: str) -> bool:
    delivery = output.get("delivery") if isinstance(output, dict) else None
    return isinstance(delivery, dict) and delivery.get(name) is True


def _kept(fields: dict[str, str], name: str) -> dict[str, Any]:
    """A hidden `kept` field's parts (422 naming the field when it is not a mapping of
    acceptable values)."""
    text = fields.get(name)
    if not text:
        return {}
    refusal = f"form: {name} must be the script's parts the editor carries, as JSON"
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise HTTPException(422, refusal) from None
    if not isinstance(value, dict):
        raise HTTPException(422, refusal)
    try:
        check_document(value, name)
    except DocumentError as exc:
        raise HTTPException(422, f"form: {name}: {exc}") from None
    return value


def _listed(fields: dict[str, str], name: str) -> list[str]:
    """The ticked boxes `{name}-0`, `{name}-1`, ... in their order."""
    found = [
        (int(m.group(2)), v)
        for n, v in fields.items()
        if (m := _LISTED.fullmatch(n)) and m.group(1) == name
    ]
    return [value for _, value in sorted(found)]


def _switch(value: str | None) -> Any:
    """A checkbox: on when sent as a box sends it, off when not sent; other text stays for the
    checks to name."""
    if value is None:
        return False
    return True if value in ("on", "true") else value


def _output(fields: dict[str, str], kept: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = {"format": fields.get("output-format", "mp4")}
    for name in ("size", "transition"):
        if fields.get(f"output-{name}"):
            output[name] = fields[f"output-{name}"]
    output["captions"] = fields.get("output-captions") == "on"
    timing: dict[str, Any] = {}
    for name in (*TIMING_NUMBERS, "fit", "clip_audio"):
        value = fields.get(f"output-timing-{name}")
        if value:
            timing[name] = _number(value) if name in TIMING_NUMBERS else value
    if timing:
        output["timing"] = timing
    renditions = _listed(fields, "output-renditions")
    if renditions:
        output["renditions"] = renditions
    if fields.get("output-reframe"):
        output["reframe"] = fields["output-reframe"]
    delivery: dict[str, Any] = {
        name: _switch(fields.get(f"output-delivery-{name}")) for name, _ in DELIVERY_SWITCHES
    }
    delivery["captions"] = _listed(fields, "output-delivery-captions")
    if any(value is not False and value != [] for value in delivery.values()):
        output["delivery"] = delivery
    hidden = kept.get("output")
    if isinstance(hidden, dict):
        output.update({k: v for k, v in hidden.items() if k not in SHOWN_OUTPUT})
    return output


def editor_document(fields: dict[str, str], registry: Registry) -> EditorForm:
    """The script document the editor's fields describe, with the section operation applied
    (`add`, `remove-N`, `up-N`, `down-N`); values that do not parse stay text for the checks."""
    op = fields.pop("op", "submit")
    indexes = sorted({int(m.group(1)) for name in fields if (m := _SECTION_FIELD.fullmatch(name))})
    sections = []
    for index in indexes:
        sf = {
            m.group(2): v
            for n, v in fields.items()
            if (m := _SECTION_FIELD.fullmatch(n)) and int(m.group(1)) == index
        }
        kept = _kept(fields, f"sections-{index}-{KEPT}")
        if "variants" in kept:  # hook variants: their fields come back as they were
            sections.append(
                {"id": sf.get("id", ""), **{k: v for k, v in kept.items() if k != "id"}}
            )
            continue
        visual = sf.get("visual", "image-clip")
        if visual not in VISUALS:
            visual = "image-clip"
        section: dict[str, Any] = {"id": sf.get("id", ""), "narration": sf.get("narration", "")}
        if visual in ("image-clip", "still"):
            section["keyframe"] = _generation(sf, "keyframe", registry, SLOT_TASKS["keyframe"])
        if visual in ("image-clip", "text-clip"):
            section["clip"] = _generation(sf, "clip", registry, SLOT_TASKS[visual])
            if visual == "image-clip":
                section["clip"].pop("prompt", None)
        else:
            section["still"] = {
                "duration_s": _number(sf.get("still-duration_s")) or 3,
                "zoom": sf.get("still-zoom") == "on",
            }
        if sf.get("voice-model"):  # a section's own voice, kept from an imported script
            section["voice"] = _generation(sf, "voice", registry, SLOT_TASKS["voice"])
        section.update({k: v for k, v in kept.items() if k not in SHOWN_SECTION})
        sections.append(section)
    document: dict[str, Any] = {
        "id": fields.get("id") or "",
        "title": fields.get("title", ""),
        "sections": sections,
    }
    if fields.get("budget_usd") is not None:
        document["budget_usd"] = _number(fields["budget_usd"])
    if fields.get("soundtrack-model"):
        document["soundtrack"] = _generation(
            fields, "soundtrack", registry, SLOT_TASKS["soundtrack"]
        )
    if fields.get("voice-model"):
        document["voice"] = _generation(fields, "voice", registry, SLOT_TASKS["voice"])
    kept = _kept(fields, KEPT)
    document["output"] = _output(fields, kept)
    document.update({k: v for k, v in kept.items() if k not in SHOWN})
    _apply_op(document, op, registry)
    return EditorForm(document, op)


def _apply_op(document: dict[str, Any], op: str, registry: Registry) -> None:
    sections: list[dict[str, Any]] = document["sections"]
    action, _, number = op.partition("-")
    index = int(number) if number.isdigit() else -1
    if action == "add":
        sections.append(new_section(registry, len(sections) + 1))
    elif action == "remove" and 0 <= index < len(sections):
        sections.pop(index)
    elif action == "up" and 0 < index < len(sections):
        sections[index - 1], sections[index] = sections[index], sections[index - 1]
    elif action == "down" and 0 <= index < len(sections) - 1:
        sections[index + 1], sections[index] = sections[index], sections[index + 1]


def new_section(registry: Registry, number: int) -> dict[str, Any]:
    images = models_for(registry, SLOT_TASKS["keyframe"])
    return {
        "id": f"section-{number}",
        "narration": "",
        "keyframe": {"model": images[0].id if images else "", "prompt": ""},
        "still": {"duration_s": 3, "zoom": False},
    }


def new_document(registry: Registry) -> dict[str, Any]:
    """What a new script starts as: one still section, mp4 output."""
    return {
        "id": "",
        "title": "",
        "budget_usd": 1.0,
        "sections": [new_section(registry, 1)],
        "output": {"format": "mp4", "captions": False},
    }


def script_id_for(document: dict[str, Any]) -> None:
    """Give a document without an id one made from its title (and a few random letters)."""
    if document.get("id"):
        return
    slug = re.sub(r"[^a-z0-9]+", "-", str(document.get("title", "")).lower()).strip("-")[:48]
    document["id"] = f"{slug or 'script'}-{secrets.token_hex(3)}"


def section_visual(section: dict[str, Any]) -> str:
    if section.get("still") is not None:
        return "still"
    return "image-clip" if section.get("keyframe") is not None else "text-clip"


def field_errors(
    exc: ScriptError, document: dict[str, Any], registry: Registry | None = None
) -> dict[str, list[str]]:
    """Each problem under the form field that shows it (`script` for the whole form), in words
    that name the field (`problem_text`)."""
    errors: dict[str, list[str]] = {}
    for path, message in exc.problems:
        name = field_name(path, message, document)
        errors.setdefault(name, []).append(problem_text(name, message, document, registry))
    return errors


def problem_texts(
    exc: ScriptError, document: dict[str, Any], registry: Registry | None = None
) -> list[str]:
    """Every problem as one line naming its field (the editor's estimate lists them)."""
    return [
        problem_text(field_name(path, message, document), message, document, registry)
        for path, message in exc.problems
    ]


# Pydantic's words for the common refusals, as a person would say them.
_PLAIN_MESSAGES = (
    (re.compile(r"String should have at least 1 character"), "must not be empty"),
    (re.compile(r"String should have at most (\d+) characters?"), r"must be at most \1 characters"),
    (re.compile(r"Field required"), "is missing"),
    (re.compile(r"List should have at least 1 item.*"), "needs at least one section"),
    (re.compile(r"Input should be greater than or equal to (\S+)"), r"must be at least \1"),
    (re.compile(r"Input should be greater than (\S+)"), r"must be more than \1"),
    (re.compile(r"Input should be less than or equal to (\S+)"), r"must be at most \1"),
    (re.compile(r"Input should be a valid number.*"), "must be a number"),
    (re.compile(r"Input should be a valid boolean.*"), "must be on or off"),
    (re.compile(r"^Value error, "), ""),
    (
        re.compile(r"unknown transition ('[^']*'); known: \[.*\]"),
        r"\1 is not a transition; choose one of the list",
    ),
)


def problem_text(
    name: str, message: str, document: dict[str, Any], registry: Registry | None = None
) -> str:
    """`message` about the editor field `name`, starting with the field's name as the form
    shows it ("Section 2, narration: must not be empty")."""
    for pattern, plain in _PLAIN_MESSAGES:
        message = pattern.sub(plain, message)
    label = field_label(name, document, registry)
    return f"{label}: {message}" if label else message


_FIELD_LABELS = {
    "title": "Title",
    "id": "Id",
    "budget_usd": "Budget",
    "sections": "Sections",
    "output": "Output",
    "output-size": "Size preset",
    "output-transition": "Transition",
    "output-format": "Format",
    "output-timing-pad_s": "Pause after each voice",
    "output-timing-fit": "A clip shorter than its voice",
    "output-timing-max_slowdown": "Slowest a clip may play",
    "output-timing-clip_audio": "The clips' own sound under the voice",
    "output-timing-lowered_db": "Lowered by",
    "output-renditions": "Versions for",
    "output-reframe": "Fill other shapes by",
    "output-delivery": "For landing pages",
}
_SLOTS = {"keyframe": "keyframe image", "clip": "clip", "voice": "voice", "still": "still"}


def field_label(name: str, document: dict[str, Any], registry: Registry | None = None) -> str:
    """The editor field `name` as its label says it, with the section it is in."""
    if name in _FIELD_LABELS:
        return _FIELD_LABELS[name]
    if name == "script":
        return ""
    where = ""
    generation: Any = document
    match = re.fullmatch(r"sections-(\d+)(?:-(.*))?", name)
    if match:
        index = int(match.group(1))
        where = f"Section {index + 1}"
        sections = document.get("sections") or []
        section = sections[index] if index < len(sections) else {}
        generation = section if isinstance(section, dict) else {}
        name = match.group(2) or ""
        if not name:
            return where
    slot, _, rest = name.partition("-")
    if slot not in (*_SLOTS, "soundtrack") or not rest:
        plain = {"id": "section id", "narration": "narration"}.get(name, name.replace("_", " "))
        return f"{where}, {plain}" if where else plain.capitalize()
    part = generation.get(slot) if isinstance(generation, dict) else None
    slot_name = _SLOTS.get(slot, slot)
    what = {"model": "model", "prompt": "prompt", "duration_s": "seconds on screen"}.get(rest, rest)
    if rest.startswith("param-"):
        param = rest[len("param-") :]
        spec = (
            registry.models.get(str(part.get("model")))
            if registry and isinstance(part, dict)
            else None
        )
        what = spec.labels.get(param, _plain(param)) if spec is not None else _plain(param)
        if param == "seed" and (spec is None or "seed" not in spec.labels):
            what = SEED_LABEL
    if what[:2] != what[:2].upper():  # "Pictures per request" after a comma, not "WAV"
        what = what[0].lower() + what[1:]
    text = f"{slot_name}, {what}" if what else slot_name
    return f"{where}, {text}" if where else text[0].upper() + text[1:]


def field_name(path: FieldPath, message: str, document: dict[str, Any]) -> str:
    """The editor field a problem at `path` belongs to (the nearest that the form shows)."""
    parts = [str(p) for p in path]
    if not parts:
        return "script"
    if parts[0] in ("id", "title", "budget_usd"):
        return parts[0]
    if parts[0] == "output":
        shown = {"size": "size", "transition": "transition", "type": "transition"}
        shown.update({"seconds": "transition", "format": "format"})
        if len(parts) > 2 and parts[1] == "timing":
            return f"output-timing-{parts[2]}"
        if len(parts) > 1 and parts[1] in ("renditions", "reframe", "delivery"):
            return f"output-{parts[1]}"
        return f"output-{shown[parts[1]]}" if len(parts) > 1 and parts[1] in shown else "output"
    if parts[0] in ("soundtrack", "voice"):
        return _generation_field(parts[0], parts[1:], message)
    if parts[0] == "sections" and len(parts) > 1 and parts[1].isdigit():
        prefix = f"sections-{parts[1]}"
        rest = parts[2:]
        if not rest:
            return prefix
        if rest[0] in ("keyframe", "clip", "voice"):
            return _generation_field(f"{prefix}-{rest[0]}", rest[1:], message)
        if rest[0] == "still":
            return f"{prefix}-still-duration_s" if rest[1:2] == ["duration_s"] else prefix
        return f"{prefix}-{rest[0]}" if rest[0] in ("id", "narration") else prefix
    return "sections" if parts[0] == "sections" else "script"


def _generation_field(prefix: str, rest: list[str], message: str) -> str:
    if rest and rest[0] == "prompt":
        return f"{prefix}-prompt"
    if rest[:1] == ["params"] and len(rest) > 1:
        return f"{prefix}-param-{rest[1]}"
    found = _PARAMETER.search(message)
    if found and found.group(1) != "prompt":
        return f"{prefix}-param-{found.group(1)}"
    if "prompt" in message:
        return f"{prefix}-prompt"
    return f"{prefix}-model"


def parse_seed(value: str | None) -> int | None:
    if value is None:
        return None
    if not _INTEGER.fullmatch(value):
        raise HTTPException(422, "seed: must be a whole number")
    return int(value)
