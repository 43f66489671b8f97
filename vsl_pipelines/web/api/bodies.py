"""Request bodies of the API: a script as JSON or YAML, a decision as JSON, read as dependencies
so the handlers (plain functions on worker threads) get them parsed and validated.

Parsing runs on a worker thread (a large YAML body takes a second of CPU; the event loop keeps
answering meanwhile). JSON is strict: no `NaN` / `Infinity`, no number that overflows to
infinity, nesting refused past the domain's bound like YAML's, so every bad body is a 4xx.
"""

from __future__ import annotations

from typing import Any, Literal, NoReturn, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.domain.script import (
    MAX_DEPTH,
    Aspect,
    CaptionFile,
    DocumentError,
    Output,
    OutputValue,
    ScriptError,
    SectionReframe,
    check_document,
    load_yaml,
)
from vsl_pipelines.domain.strict_json import NestedTooDeeply, StrictJsonError, loads_strict
from vsl_pipelines.media.options import VoiceTiming
from vsl_pipelines.media.profile import RENDITION_ASPECTS
from vsl_pipelines.web.decisions import ApproveBody, RejectBody
from vsl_pipelines.web.deps import JSON_TYPE, YAML_TYPES
from vsl_pipelines.web.errors import validation_problems

BODY_SOURCE = "request body"
MAX_SCRIPT_BYTES = 1_000_000

Body = TypeVar("Body", bound=BaseModel)


def parse_body(raw: bytes, content_type: str, model: type[Body] | None = None) -> Any:
    """A JSON (or, for scripts, YAML) body; with `model`, validated into it. 415 for another
    content type (a missing one too), 422 naming the problem for an unreadable body."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if model is None and media_type in YAML_TYPES:
        try:
            document = load_yaml(raw, BODY_SOURCE)
        except ScriptError as exc:
            raise HTTPException(422, str(exc)) from None
    elif media_type == JSON_TYPE:
        if model is not None and not raw.strip():
            raw = b"{}"  # every field of a decision body is optional
        document = parse_json(raw)
    else:
        accepted = JSON_TYPE if model else f"{JSON_TYPE} or application/yaml"
        sent = media_type or "missing"
        raise HTTPException(415, f"{BODY_SOURCE}: content type {sent!r}; send {accepted}")
    try:
        check_document(document, "body")
    except DocumentError as exc:
        raise HTTPException(422, f"{BODY_SOURCE}: {exc}") from None
    if model is None:
        return document
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise HTTPException(422, f"{BODY_SOURCE}: {validation_problems(exc, 'body')}") from None


def parse_json(raw: bytes) -> Any:
    """Strict JSON: 422 for invalid text, `NaN` / `Infinity`, a number overflowing a float, or
    nesting the decoder's recursion cannot follow (deeper ones than `MAX_DEPTH` are refused by
    `check_document` after)."""
    try:
        return loads_strict(raw)
    except NestedTooDeeply:
        _invalid_json(f"nested deeper than {MAX_DEPTH} levels")
    except StrictJsonError as exc:
        _invalid_json(str(exc))


def _invalid_json(reason: str) -> NoReturn:
    raise HTTPException(422, f"{BODY_SOURCE}: invalid JSON ({reason})")


async def script_document(request: Request) -> Any:
    """The submitted script document, before validation against the registry."""
    raw = await request.body()
    if len(raw) > MAX_SCRIPT_BYTES:
        raise HTTPException(413, f"{BODY_SOURCE}: larger than {MAX_SCRIPT_BYTES} bytes")
    return await run_in_threadpool(parse_body, raw, _content_type(request))


async def approve_body(request: Request) -> ApproveBody:
    """An approval: `{"subject"?, "note"?}`."""
    raw = await request.body()
    body: ApproveBody = await run_in_threadpool(
        parse_body, raw, _content_type(request), ApproveBody
    )
    return body


async def reject_body(request: Request) -> RejectBody:
    """A rejection: `{"subject"?, "note"?, "prompt"?, "seed"?, "params"?, "text"?}`."""
    raw = await request.body()
    body: RejectBody = await run_in_threadpool(parse_body, raw, _content_type(request), RejectBody)
    return body


def _listed_once(values: list[str] | None) -> list[str] | None:
    """Each value once (a set, written in order: the first rendition is the landing page's)."""
    repeated = sorted({v for v in values or () if values and values.count(v) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repr(v) for v in repeated)} listed more than once")
    return values


class DeliveryBody(BaseModel):
    """The delivery switches a compile changes (`output.delivery`); each one left out stays as
    the script has it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hls: bool | None = Field(default=None, description="an HLS ladder and its master playlist")
    captions: list[CaptionFile] | None = Field(
        default=None, max_length=2, description="caption files: `vtt`, `srt` (`[]`: none)"
    )
    chapters: bool | None = Field(default=None, description="a WebVTT chapters track")
    poster: bool | None = Field(default=None, description="a poster image")

    @field_validator("captions")
    @classmethod
    def _captions_once(cls, value: list[str] | None) -> list[str] | None:
        return _listed_once(value)


class CompileBody(BaseModel):
    """A compile request: container and quality, and any of the script's own output options
    (`output:` in the script) to change for this compile."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    outputFormat: Literal["mp4", "webm", "avi"] | None = Field(
        default=None, description="default: the script's `output.format`"
    )
    quality: Literal["draft", "standard", "high"] = Field(
        default="standard", description="encoder settings of the re-encoded parts"
    )
    size: OutputValue | None = Field(default=None, description="WxH or a preset, e.g. 720p")
    fps: OutputValue | None = Field(default=None, description="e.g. 30, 25, 29.97")
    transition: OutputValue | None = Field(
        default=None, description="TYPE[:SECONDS], e.g. fade:0.5"
    )
    captions: bool | None = Field(default=None, description="burn in each section's narration")
    timing: VoiceTiming | None = Field(
        default=None,
        description="how voiced sections follow their voice (`output.timing`: pad_s, fit,"
        " max_slowdown, clip_audio, lowered_db); replaces the script's whole",
    )
    renditions: list[Aspect] | None = Field(
        default=None,
        max_length=len(RENDITION_ASPECTS),
        description=f"one final video per aspect, each once, of {', '.join(RENDITION_ASPECTS)};"
        " the first is the landing page's (`[]`: one video at the clips' own aspect)",
    )
    reframe: SectionReframe | None = Field(
        default=None, description="a clip of another aspect than the frame: `crop` or `blur`"
    )
    delivery: DeliveryBody | None = Field(
        default=None,
        description="landing-page files `{hls?, captions?: [vtt, srt], chapters?, poster?}`;"
        " a switch left out stays as the script has it",
    )

    @field_validator("fps", mode="before")
    @classmethod
    def _fps_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @field_validator("renditions")
    @classmethod
    def _renditions_once(cls, value: list[str] | None) -> list[str] | None:
        return _listed_once(value)

    @model_validator(mode="after")
    def _valid_output(self) -> CompileBody:
        """The overrides pass the script format's own checks (size, fps, transition)."""
        try:
            Output(size=self.size, fps=self.fps, transition=self.transition)
        except ValidationError as exc:
            raise ValueError(validation_problems(exc, "output")) from None
        return self

    def overrides(self) -> dict[str, Any]:
        """The output options this request changes (of `delivery`, the switches it names)."""
        return self.model_dump(
            include={
                "size", "fps", "transition", "captions", "timing", "renditions", "reframe",
                "delivery",
            },
            exclude_none=True,
        )  # fmt: skip


async def compile_body(request: Request) -> CompileBody:
    """A compile request: `{"outputFormat"?, "quality"?, "size"?, "fps"?, ...}`."""
    raw = await request.body()
    body: CompileBody = await run_in_threadpool(
        parse_body, raw, _content_type(request), CompileBody
    )
    return body


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "")
