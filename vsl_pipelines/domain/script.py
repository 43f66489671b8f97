"""The script format: a video sales letter in sections, read from YAML and validated.

`vsl scripts add FILE` parses a file with `load_script`; errors name the file and the field.
The CLI and the API refuse the same documents: `load_yaml` reads YAML with a depth bound,
`check_document` bounds any parsed document (depth, size, finite numbers, text without control
characters) before the models check their fields (ids matched whole, text lengths, budget).
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from vsl_pipelines.domain.registry import ModelSpec, Registry, RegistryError
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.options import TransitionSpec, VoiceTiming
from vsl_pipelines.media.profile import RENDITION_ASPECTS, parse_fps, parse_size

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # matched whole (`fullmatch`)
ID_RULE = "must be lowercase letters, digits and dashes (at most 63)"
MAX_DEPTH = 64  # nesting of mappings and lists in a document
MAX_VALUES = 100_000  # values in a document, YAML aliases counted as often as they are used
MAX_INTEGER = 2**53  # what every JSON reader keeps exactly
MAX_NUMBER = 1e15
MAX_BUDGET_USD = 1_000_000  # the column holds up to 1e8 (numeric(12, 4))
MAX_TITLE_CHARS = 200
MAX_NARRATION_CHARS = 10_000
MAX_PROMPT_CHARS = 4_000
MAX_NOTE_CHARS = 2_000
MAX_MODEL_ID_CHARS = 200
MAX_SECTIONS = 200
MAX_SIDE_PIXELS = 8_192
MAX_URL_CHARS = 2_000
MAX_CTA_CHARS = 80
MAX_VARIANTS = 8  # alternatives of one section
MAX_CUTS = 16  # combinations of variants one compile makes (a cut each, per rendition)
# A variant is generated and reviewed as a section of its own, `{section}~{variant}`: `~` is
# in no written id, and is kept as is in URLs and store keys.
VARIANT_MARK = "~"
# C0 controls but tab and line breaks, DEL, C1 controls, lone surrogates (not encodable).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n\r]")


FieldPath = tuple[str | int, ...]


class ScriptError(ValueError):
    """A script file that cannot be used; the message names the file and the field, and
    `problems` lists each as (field path, message) for a form to show at its field (the path
    of the whole script is `()`)."""

    def __init__(self, message: str, problems: list[tuple[FieldPath, str]] | None = None) -> None:
        super().__init__(message)
        self.problems: list[tuple[FieldPath, str]] = problems or [((), message)]

    def within(self, source: str) -> ScriptError:
        """The same problems, the message prefixed with `source`."""
        return ScriptError(f"{source}: {self}", self.problems)


class DocumentError(ValueError):
    """A parsed document out of bounds; the message names the field (`a.0.b: problem`), and
    `path` is that field's path."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


def id_problem(value: str) -> str | None:
    """Why `value` is not a script or section id, or None."""
    return None if ID_PATTERN.fullmatch(value) else ID_RULE


def section_id_problem(value: str) -> str | None:
    """Why `value` names no section as stored (an id, or a variant's `hook~a`), or None."""
    group, mark, variant = value.partition(VARIANT_MARK)
    if id_problem(group) or (mark and id_problem(variant)):
        return f"{ID_RULE}, a variant's as section~variant"
    return None


def section_label(section_id: str) -> str:
    """A section as a person reads it: `hook~a` is `hook, variant a`."""
    group, mark, variant = section_id.partition(VARIANT_MARK)
    return f"{group}, variant {variant}" if mark else section_id


def text_problem(value: str, *, single_line: bool = False) -> str | None:
    """Why `value` cannot be stored as text (a control character), or None."""
    found = _CONTROL.search(value) or (_LINE_BREAKS.search(value) if single_line else None)
    if found is None:
        return None
    return f"contains the control character U+{ord(found.group()):04X}"


def _id(value: str) -> str:
    if id_problem(value):
        raise ValueError(ID_RULE)
    return value


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _line(value: str) -> str:
    problem = text_problem(value, single_line=True)
    if problem:
        raise ValueError(problem)
    return value


Id = Annotated[str, AfterValidator(_id)]
# Text: tabs and line breaks allowed; a line: none. Lengths are checked before characters.
Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS), AfterValidator(_text)]
Note = Annotated[str, Field(max_length=MAX_NOTE_CHARS), AfterValidator(_text)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS), AfterValidator(_line)]
Narration = Annotated[
    str, Field(min_length=1, max_length=MAX_NARRATION_CHARS), AfterValidator(_text)
]
ModelId = Annotated[str, Field(min_length=1, max_length=MAX_MODEL_ID_CHARS), AfterValidator(_line)]
OutputValue = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_line)]
# A user id as the API takes it (`userId` of a generation request).
UserId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_line)]


def check_document(document: Any, whole: str = "document") -> None:
    """Refuse (DocumentError naming the field) a document nested deeper than `MAX_DEPTH`, with
    more than `MAX_VALUES` values, a number that is not finite or beyond `MAX_NUMBER` /
    `MAX_INTEGER`, a key that is not text, text with a control character, or a value that is
    not JSON's (YAML dates, bytes, sets). Iterative, so any depth is refused without recursion."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    seen = 0
    while stack:
        value, path = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise DocumentError(f"more than {MAX_VALUES} values")
        where = ".".join(path) or whole
        if len(path) > MAX_DEPTH:
            raise DocumentError(f"{where[:200]}: nested deeper than {MAX_DEPTH} levels")
        problem = _value_problem(value)
        if problem:
            raise DocumentError(f"{where}: {problem}", path)
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise DocumentError(f"{where}: key {key!r} is not text")
                key_problem = text_problem(key, single_line=True)
                if key_problem:
                    raise DocumentError(f"{where}: key {key!r} {key_problem}", path)
            stack.extend((item, (*path, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(i))) for i, item in reversed(list(enumerate(value))))


def _value_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, int):
        return None if abs(value) <= MAX_INTEGER else f"number beyond ±{MAX_INTEGER}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "must be a finite number"
        return None if abs(value) <= MAX_NUMBER else f"number beyond ±{MAX_NUMBER:g}"
    return f"a {type(value).__name__} is not text, a number, true/false, a list or a mapping"


_YAML_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(_YAML_BASE):  # type: ignore[valid-type,misc]
    """Safe YAML, libyaml when available; dates stay text (a script has none, JSON has none)."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_OPENING = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_NODES = (*_OPENING, yaml.ScalarEvent, yaml.AliasEvent)
MAX_YAML_NODES = 2 * MAX_VALUES  # keys are nodes too


def load_yaml(text: str | bytes, source: str) -> Any:
    """The YAML document in `text` (ScriptError naming `source` and the line). Its nesting and
    size are measured on the parser's events first (no recursion, a tenth of the cost of
    building the document), so a deep or huge document is refused before the recursive
    composer sees it."""
    try:
        depth = nodes = 0
        for event in yaml.parse(text, Loader=_YamlLoader):
            if isinstance(event, _NODES):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    raise ScriptError(f"{source}: more than {MAX_VALUES} values")
            if isinstance(event, _OPENING):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise ScriptError(
                        f"{source}: nested deeper than {MAX_DEPTH} levels at line {line}"
                    )
            elif isinstance(event, _CLOSING):
                depth -= 1
        return yaml.load(text, Loader=_YamlLoader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        why = f" ({problem})" if isinstance(problem, str) and problem else ""
        raise ScriptError(f"{source}: invalid YAML{where}{why}") from None


class Generation(BaseModel):
    """One call to a registry model: which model, its prompt and extra parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: ModelId
    prompt: Prompt | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Still(BaseModel):
    """The section's keyframe held on screen (made locally, no paid call)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    duration_s: float = Field(gt=0, le=120)
    zoom: bool = False


class Voice(BaseModel):
    """A text-to-speech model and its parameters (voice, speed); the words are the narration."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: ModelId
    params: dict[str, Any] = Field(default_factory=dict)


# How a clip of another aspect fills a rendition's frame: cropped around its centre, or whole
# over a blurred fill of itself (`media.normalize.frame_chain`).
SectionReframe = Literal["crop", "blur"]
CaptionFile = Literal["vtt", "srt"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: Id
    narration: Narration
    voice: Voice | None = None  # overrides the script's voice for this section
    keyframe: Generation | None = None
    clip: Generation | None = None
    still: Still | None = None
    reframe: SectionReframe | None = None  # overrides `output.reframe` for this section

    @model_validator(mode="after")
    def _one_visual(self) -> Section:
        if (self.clip is None) == (self.still is None):
            raise ValueError("a section needs exactly one of 'clip' or 'still'")
        if self.still is not None and self.keyframe is None:
            raise ValueError("a 'still' section needs a 'keyframe' to hold on screen")
        return self

    @property
    def group(self) -> str:
        """The section as written: its own id, or for a variant the id of its section."""
        return self.id.partition(VARIANT_MARK)[0]

    @property
    def variant(self) -> str | None:
        """The variant's id (`a` of `hook~a`); None for a section without variants."""
        return self.id.partition(VARIANT_MARK)[2] or None


class SectionVariant(BaseModel):
    """One alternative of a section (`variants:`): its id and any of the section's own fields,
    the section's where it leaves one out (a variant's clip or still replaces both)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: Id
    narration: Narration | None = None
    voice: Voice | None = None
    keyframe: Generation | None = None
    clip: Generation | None = None
    still: Still | None = None
    reframe: SectionReframe | None = None

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        if isinstance(value, dict) and "variants" in value:
            raise ValueError("variants do not nest: a variant holds the section's own fields")
        return value


class VariantSection(BaseModel):
    """A section written as alternatives (hook variants): each variant is generated, reviewed
    and compiled as a section of its own (`{id}~{variant}`), one cut per combination."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: Id
    variants: list[SectionVariant]
    narration: Narration | None = None
    voice: Voice | None = None
    keyframe: Generation | None = None
    clip: Generation | None = None
    still: Still | None = None
    reframe: SectionReframe | None = None

    @field_validator("variants")
    @classmethod
    def _variants(cls, variants: list[SectionVariant]) -> list[SectionVariant]:
        if not 2 <= len(variants) <= MAX_VARIANTS:
            raise ValueError(f"{len(variants)} given; a section has 2 to {MAX_VARIANTS} variants")
        ids = [variant.id for variant in variants]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"variant id {repeated[0]!r} appears twice")
        return variants

    def variant_documents(self) -> list[dict[str, Any]]:
        """Each variant as a section's document: the section's fields, the variant's over them."""
        shared = self.model_dump(exclude={"id", "variants"}, exclude_none=True)
        documents = []
        for variant in self.variants:
            own = variant.model_dump(exclude_none=True)
            base = dict(shared)
            if "clip" in own or "still" in own:
                base.pop("clip", None)
                base.pop("still", None)
            documents.append({**base, **own})
        return documents


def _located(exc: ValidationError, base: FieldPath) -> list[InitErrorDetails]:
    """`exc`'s errors at their fields under `base` (a section checked on its own)."""
    return [
        InitErrorDetails(
            type=PydanticCustomError(err["type"], "{message}", {"message": err["msg"]}),
            loc=(*base, *err["loc"]),
            input=err["input"],
        )
        for err in exc.errors()
    ]


def _problem(path: FieldPath, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("value_error", "{message}", {"message": message}),
        loc=path,
        input=value,
    )


def expand_variants(written: list[Any]) -> list[Section]:
    """The sections of a script written with variants, each variant a section of its own
    (`hook~a`), in order; ValidationError with every problem at its written field (ids,
    at least two variants, none nested, at most `MAX_CUTS` combinations)."""
    sections: list[Section] = []
    errors: list[InitErrorDetails] = []
    counts: list[tuple[int, int]] = []  # (index, variants) of each section with variants
    seen: set[str] = set()
    for index, entry in enumerate(written):
        try:
            if isinstance(entry, dict) and "variants" in entry:
                group = VariantSection.model_validate(entry)
                counts.append((index, len(group.variants)))
                for number, document in enumerate(group.variant_documents()):
                    try:
                        section = Section.model_validate(document)
                    except ValidationError as exc:
                        errors += _located(exc, ("sections", index, "variants", number))
                        continue
                    variant_id = f"{group.id}{VARIANT_MARK}{section.id}"
                    sections.append(section.model_copy(update={"id": variant_id}))
                written_id = group.id
            else:
                section = Section.model_validate(entry)
                sections.append(section)
                written_id = section.id
        except ValidationError as exc:
            errors += _located(exc, ("sections", index))
            continue
        if written_id in seen:
            message = f"section id {written_id!r} appears twice"
            errors.append(_problem(("sections", index, "id"), message, written_id))
        seen.add(written_id)
    cuts = math.prod(n for _, n in counts)
    if counts and cuts > MAX_CUTS:
        product = " x ".join(f"{n} variants" for _, n in counts)
        message = f"{product} = {cuts} cuts, over the cap of {MAX_CUTS}"
        errors.append(_problem(("sections", counts[0][0], "variants"), message, cuts))
    if errors:
        raise ValidationError.from_exception_data("Script", errors)
    return sections


class Cut(BaseModel):
    """One combination of variants, compiled as a video of its own: its key (`hook=a`, the
    watch page's and the report's; `main` without variants) and its sections in order."""

    model_config = ConfigDict(frozen=True)

    key: str
    sections: tuple[str, ...]

    @property
    def name(self) -> str:
        """The key as it shows in a file name (`hook-a`)."""
        return self.key.replace("=", "-").replace(",", "-")


class Soundtrack(Generation):
    pass


def _aspect(value: str) -> str:
    if value not in RENDITION_ASPECTS:
        raise ValueError(f"unknown aspect {value!r}; known: {', '.join(RENDITION_ASPECTS)}")
    return value


def _no_repeats(values: list[str]) -> list[str]:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repr(v) for v in repeated)} listed more than once")
    return values


Aspect = Annotated[str, AfterValidator(_aspect)]


class Delivery(BaseModel):
    """Files for a landing page beside the final videos (`media.delivery`): an HLS ladder,
    caption tracks, a chapters track, a poster; all off by default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hls: bool = False
    captions: Annotated[list[CaptionFile], AfterValidator(_no_repeats)] = Field(
        default_factory=list, max_length=2
    )
    chapters: bool = False
    poster: bool = False


def _page_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    return value


# Where the landing page sends a viewer: an absolute http(s) URL (never `javascript:`).
PageUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL_CHARS),
    AfterValidator(_line),
    AfterValidator(_page_url),
]


class CallToAction(BaseModel):
    """The button the landing-page player shows from `at_s` seconds into the video."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: Annotated[str, Field(min_length=1, max_length=MAX_CTA_CHARS), AfterValidator(_line)]
    url: PageUrl
    at_s: float = Field(default=0, ge=0, le=24 * 3600)


class EndAction(BaseModel):
    """What the player does at the end: `replay`, or `{redirect: URL}` (written either way)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    replay: bool = False
    redirect: PageUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def _spelled(cls, value: Any) -> Any:
        if value == "replay":
            return {"replay": True}
        if not isinstance(value, dict | EndAction):
            raise ValueError("must be 'replay' or {redirect: URL}")
        return value

    @model_validator(mode="after")
    def _one(self) -> EndAction:
        if self.replay == (self.redirect is not None):
            raise ValueError("must be 'replay' or {redirect: URL}")
        return self


class Output(BaseModel):
    """How the final video is compiled: size, rate, transitions, captions, container, how
    sections follow their voice, the renditions (one video per aspect) and delivery files."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    size: OutputValue | None = None
    fps: OutputValue | None = None
    transition: OutputValue | None = None
    captions: bool = False
    format: Literal["mp4", "webm", "avi"] = "mp4"
    poster: bool = True
    # How voiced sections follow their narration (pad, hold/slow/loop, the clips' own sound).
    timing: VoiceTiming = Field(default_factory=VoiceTiming)
    # One final video per aspect, each with its own HLS ladder and poster (the watch page plays
    # the one nearest the viewer's screen; the first is the API's main video); none: one video
    # at the clips' own aspect, as before renditions.
    renditions: Annotated[list[Aspect], AfterValidator(_no_repeats)] = Field(
        default_factory=list, max_length=len(RENDITION_ASPECTS)
    )
    # Clips of another aspect than the frame; none: cropped in a rendition, else letterboxed
    # (as before renditions).
    reframe: SectionReframe | None = None
    delivery: Delivery = Field(default_factory=Delivery)
    # The landing-page player (`/watch/{cut}`): its call-to-action, and what it does at the end
    # (`replay`, or `{redirect: URL}`; none: it stops on the last frame).
    cta: CallToAction | None = None
    end: EndAction | None = None

    @field_validator("fps", mode="before")
    @classmethod
    def _fps_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @model_validator(mode="after")
    def _media_values(self) -> Output:
        try:
            if self.size is not None:
                width, height = parse_size(self.size)
                if max(width, height) > MAX_SIDE_PIXELS:
                    raise ValueError(f"size {self.size!r}: at most {MAX_SIDE_PIXELS} pixels a side")
            if self.fps is not None:
                parse_fps(self.fps)
        except MediaError as exc:
            raise ValueError(str(exc)) from None
        if self.transition is not None:
            TransitionSpec.parse(self.transition)
        return self

    def transition_spec(self) -> TransitionSpec | None:
        return TransitionSpec.parse(self.transition) if self.transition else None

    def overridden(self, changes: dict[str, Any]) -> Output:
        """These options with `changes` (a compile request's), validated the same way."""
        return Output.model_validate({**self.model_dump(), **changes})


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: Id
    title: Title
    budget_usd: float | None = Field(default=None, ge=0, le=MAX_BUDGET_USD)
    soundtrack: Soundtrack | None = None
    voice: Voice | None = None  # each section's narration spoken by this model
    output: Output = Field(default_factory=Output)
    sections: list[Section] = Field(min_length=1, max_length=MAX_SECTIONS)

    @model_validator(mode="before")
    @classmethod
    def _expand_variants(cls, value: Any) -> Any:
        written = value.get("sections") if isinstance(value, dict) else None
        if not isinstance(written, list) or not any(
            isinstance(entry, dict) and "variants" in entry for entry in written
        ):
            return value
        return {**value, "sections": expand_variants(written)}

    @model_validator(mode="after")
    def _unique_sections(self) -> Script:
        seen: set[str] = set()
        for section in self.sections:
            if section.id in seen:
                raise ValueError(f"section id {section.id!r} appears twice")
            seen.add(section.id)
        return self

    @field_serializer("sections", mode="wrap")
    def _written_sections(
        self, sections: list[Section], handler: SerializerFunctionWrapHandler
    ) -> list[Any]:
        """Variants folded back into their section, as the script was written."""
        written: list[Any] = []
        for section, document in zip(sections, handler(sections), strict=True):
            if section.variant is None:
                written.append(document)
                continue
            if (
                not written
                or written[-1].get("id") != section.group
                or "variants" not in written[-1]
            ):
                written.append({"id": section.group, "variants": []})
            written[-1]["variants"].append({**document, "id": section.variant})
        return written

    def section_path(self, index: int) -> FieldPath:
        """Where the section at `index` (variants counted one by one) is written:
        `("sections", 0)`, or `("sections", 0, "variants", 1)` for a variant."""
        written, number, previous = -1, 0, None
        for section in self.sections[: index + 1]:
            if section.variant is None or section.group != previous:
                written, number = written + 1, 0
            else:
                number += 1
            previous = section.group if section.variant is not None else None
        if self.sections[index].variant is None:
            return ("sections", written)
        return ("sections", written, "variants", number)

    def cuts(self) -> list[Cut]:
        """One cut per combination of variants (in the order written; the first variant of
        each section first), or the single `main` cut of a script without variants."""
        options: list[list[Section]] = []
        for section in self.sections:
            same = options and section.variant is not None and options[-1][0].group == section.group
            if same and options[-1][0].variant is not None:
                options[-1].append(section)
            else:
                options.append([section])
        if all(len(choice) == 1 and choice[0].variant is None for choice in options):
            return [Cut(key="main", sections=tuple(s.id for s in self.sections))]
        cuts = []
        for chosen in itertools.product(*options):
            key = ",".join(f"{s.group}={s.variant}" for s in chosen if s.variant is not None)
            cuts.append(Cut(key=key, sections=tuple(s.id for s in chosen)))
        return cuts

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def voice_of(self, section: Section) -> Voice | None:
        """The voice that speaks `section`'s narration: its own, else the script's, else none."""
        return section.voice or self.voice


def speech_input(spec: ModelSpec, voice: Voice, text: str) -> dict[str, Any]:
    """The text-to-speech model's input for `text` in `voice` (RegistryError if it does not
    fit the model)."""
    if spec.text_input is None:
        raise RegistryError(f"model {spec.id!r} is {spec.task}, not text-to-speech")
    if spec.text_input in voice.params:
        raise RegistryError(
            f"parameter {spec.text_input!r} comes from the section's narration; remove it"
        )
    return spec.build_input({**voice.params, spec.text_input: text})


def check_voice(registry: Registry, voice: Voice, text: str) -> list[tuple[FieldPath, str]]:
    """What is wrong with `voice` speaking `text`, each problem at its field relative to the
    voice (`("model",)`, `("params", "speed")`); empty when it fits."""
    try:
        spec = registry.get(voice.model)
    except RegistryError as exc:
        return [(("model",), str(exc))]
    if spec.task != "text-to-speech":
        return [(("model",), f"model {spec.id!r} is {spec.task}; a voice needs text-to-speech")]
    problems: list[tuple[FieldPath, str]] = []
    for name, value in voice.params.items():
        if name == spec.text_input:
            problems.append(
                (("params", name), f"{name!r} comes from the section's narration; remove it")
            )
        elif name not in spec.supported_params:
            problems.append(
                (
                    ("params", name),
                    f"model {spec.id!r} does not support parameter {name!r}; "
                    f"supported: {[p for p in spec.supported_params if p != spec.text_input]}",
                )
            )
        elif name in spec.constraints and value is not None:
            try:
                spec.constraints[name].check(name, value)
            except RegistryError as exc:
                problems.append((("params", name), f"model {spec.id!r}: {exc}"))
    if not problems:
        try:
            spec.estimate_cost(speech_input(spec, voice, text))
        except RegistryError as exc:
            problems.append(((), str(exc)))
    return problems


def check_against_registry(script: Script, registry: Registry) -> None:
    """Every model is known, fits its slot, and every parameter is supported and in range."""

    def check(where: str, path: FieldPath, generation: Generation, tasks: set[str]) -> None:
        try:
            spec = registry.get(generation.model)
            if spec.task not in tasks:
                raise RegistryError(
                    f"model {spec.id!r} is {spec.task}; this slot needs {' or '.join(sorted(tasks))}"
                )
            params = dict(generation.params)
            if generation.prompt is not None:
                if "prompt" not in spec.supported_params:
                    raise RegistryError(f"model {spec.id!r} takes no prompt")
                params["prompt"] = generation.prompt
            spec.estimate_cost(spec.build_input(params))
        except RegistryError as exc:
            raise ScriptError(f"{where}: {exc}", [(path, str(exc))]) from None

    for index, section in enumerate(script.sections):
        where = f"sections[{index}] ({section.id})"
        at = script.section_path(index)
        if section.keyframe:
            check(f"{where}.keyframe", (*at, "keyframe"), section.keyframe, {"text-to-image"})
        if section.clip:
            needs = {"image-to-video"} if section.keyframe else {"text-to-video"}
            check(f"{where}.clip", (*at, "clip"), section.clip, needs)
    if script.soundtrack:
        check("soundtrack", ("soundtrack",), script.soundtrack, {"text-to-audio"})
    voice_problems: list[tuple[FieldPath, str]] = []
    voices: list[tuple[FieldPath, Voice, str]] = []
    if script.voice is not None:
        # Checked once: its parameters do not depend on the text.
        voices.append((("voice",), script.voice, script.sections[0].narration))
    voices += [
        ((*script.section_path(index), "voice"), section.voice, section.narration)
        for index, section in enumerate(script.sections)
        if section.voice is not None
    ]
    for base, voice, text in voices:
        found = check_voice(registry, voice, text)
        voice_problems.extend(((*base, *path), message) for path, message in found)
    if voice_problems:
        message = "; ".join(
            f"{'.'.join(str(p) for p in path)}: {problem}" for path, problem in voice_problems
        )
        raise ScriptError(message, voice_problems)


def parse_script(document: Any, source: str, registry: Registry | None = None) -> Script:
    if not isinstance(document, dict):
        raise ScriptError(f"{source}: a script must be a YAML mapping with id, title and sections")
    try:
        check_document(document, "script")
    except DocumentError as exc:
        raise ScriptError(f"{source}: {exc}", [(exc.path, str(exc))]) from None
    try:
        script = Script.model_validate(document)
    except ValidationError as exc:
        errors = [(tuple(err["loc"]), str(err["msg"])) for err in exc.errors()]
        problems = "; ".join(
            f"{'.'.join(str(p) for p in loc) or 'script'}: {msg}" for loc, msg in errors
        )
        raise ScriptError(f"{source}: {problems}", errors) from None
    if registry is not None:
        try:
            check_against_registry(script, registry)
        except ScriptError as exc:
            raise exc.within(source) from None
    return script


def read_script_document(path: Path) -> Any:
    """The YAML document in one script file (ScriptError naming the file and line)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScriptError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ScriptError(f"{path}: is a folder, not a script file") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: not UTF-8 text") from None
    return load_yaml(text, str(path))


def load_script(path: Path, registry: Registry | None = None) -> Script:
    """Read and validate one script file."""
    return parse_script(read_script_document(path), str(path), registry)
