"""What a caller asks of a compile: the inputs (clips or stills) and the options.

Pydantic models so the CLI, the Dagster asset and tests validate the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.profile import OutputFormat, Quality, parse_aspect

XFADE_TRANSITIONS = {
    "fade", "dissolve", "fadeblack", "fadewhite", "fadegrays", "distance", "pixelize",
    "wipeleft", "wiperight", "wipeup", "wipedown",
    "slideleft", "slideright", "slideup", "slidedown",
    "smoothleft", "smoothright", "smoothup", "smoothdown",
    "circlecrop", "rectcrop", "circleopen", "circleclose", "radial",
    "horzopen", "horzclose", "vertopen", "vertclose", "diagtl", "diagtr", "diagbl", "diagbr",
    "hlslice", "hrslice", "vuslice", "vdslice", "squeezeh", "squeezev", "zoomin",
}  # fmt: skip
# off: none; quick: proportionate to what was done (packets of copied parts, decode of what was
# encoded and of each part's first frame); full: decode everything. See `verify.py`.
VerifyLevel = Literal["off", "quick", "full"]
TRANSITION_ALIASES = {"wipe": "wipeleft", "slide": "slideleft", "crossfade": "fade"}
# How a clip of another aspect fills the frame: letterboxed or pillarboxed in black ("fit"),
# cropped around its centre ("crop"), or whole over a blurred, cropped copy of itself ("blur").
Reframe = Literal["fit", "crop", "blur"]


class ClipInput(BaseModel):
    """One section of the final video: a clip, or an image shown for `duration_s`."""

    path: Path
    duration_s: float | None = Field(default=None, gt=0, description="still images only")
    caption: str | None = None
    zoom: bool | None = Field(
        default=None, description="slow zoom on a still; default from options"
    )
    narration: Path | None = Field(
        default=None,
        description="the section's voice (an audio file); the section lasts as long as it",
    )
    reframe: Reframe | None = Field(default=None, description="default from options")
    title: str | None = Field(default=None, description="the section's name (chapters)")


# A clip shorter than its narrated section: hold its last frame, slow it down (at most
# `max_slowdown`, then hold), or play it again from the start.
FitMode = Literal["hold", "slow", "loop"]
# The clips' own sound under a voice: kept as it is, lowered by `lowered_db`, or silenced.
ClipAudio = Literal["keep", "lower", "drop"]


class VoiceTiming(BaseModel):
    """How sections follow their narration (see `plan.fit_to_voice` and `voice.py`); a
    script's `output.timing`, so unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    pad_s: float = Field(
        default=0.5, ge=0, le=5, description="silence after the voice before the next section"
    )
    fit: FitMode = "hold"
    max_slowdown: float = Field(default=1.5, ge=1, le=4)
    clip_audio: ClipAudio = "lower"
    lowered_db: float = Field(default=-14.0, ge=-40, le=0)


class TransitionSpec(BaseModel):
    type: str = "fade"
    seconds: float = Field(default=0.5, gt=0, le=5)

    @field_validator("type")
    @classmethod
    def known_transition(cls, value: str) -> str:
        name = TRANSITION_ALIASES.get(value.lower(), value.lower())
        if name not in XFADE_TRANSITIONS:
            raise ValueError(f"unknown transition {value!r}; known: {sorted(XFADE_TRANSITIONS)}")
        return name

    @classmethod
    def parse(cls, text: str) -> TransitionSpec:
        """`fade:0.5` or `wipe` -> a spec."""
        name, _, seconds = text.partition(":")
        return cls(type=name, seconds=float(seconds)) if seconds else cls(type=name)


class SoundtrackSpec(BaseModel):
    """Background music looped or trimmed to the video, faded out, ducked under speech."""

    path: Path
    loudness_lufs: float = Field(default=-16.0, ge=-40, le=-5)
    true_peak_db: float = -1.5
    music_gain_db: float = Field(default=-12.0, description="music level under clip audio")
    ducking: bool = True
    fade_out_s: float = Field(default=2.0, ge=0)


class CompileOptions(BaseModel):
    size: str | None = Field(
        default=None, description="WxH or a preset; default: common input size"
    )
    fps: str | None = Field(default=None, description="default: common input fps")
    aspect: str | None = Field(
        default=None,
        description="W:H of the frame (a rendition): the size's short side kept at this aspect",
    )
    reframe: Reframe = Field(default="fit", description="clips of another aspect (`Reframe`)")
    format: OutputFormat = "mp4"
    quality: Quality = Field(
        default="standard", description="encoder settings of re-encodes (`encoders.QUALITY`)"
    )
    preset: str | None = Field(default=None, description="x264 preset; default from quality")
    crf: int | None = Field(default=None, ge=0, le=63, description="x264/VP9; default from quality")
    reencode_all: bool = Field(default=False, description="never stream-copy (strict players)")
    transition: TransitionSpec | None = None
    soundtrack: SoundtrackSpec | None = None
    captions: bool = Field(
        default=True,
        description="burn in each ClipInput.caption (timed either way: `CompileResult.timed_text`)",
    )
    voice: VoiceTiming = Field(default_factory=VoiceTiming)
    still_duration_s: float = Field(default=3.0, gt=0)
    still_zoom: bool = False
    timeout_s: float = Field(default=1800.0, gt=0, description="bound on the whole compile")
    # Full by default: the Dagster compile runs unattended on clips downloaded from a
    # third-party API, the published file is the deliverable, and only a full decode reads
    # every copied frame; the ~0.05 s per second of 720p it costs is small beside generation.
    # `vsl compile` asks for "quick" (a person waits on it; `--verify full` for the rest).
    verify: VerifyLevel = Field(default="full", description="off, quick or full (see verify.py)")
    poster: bool = False
    thumbnail_strip: bool = False
    work_dir: Path | None = Field(default=None, description="default: beside the output")

    @field_validator("verify", mode="before")
    @classmethod
    def verify_flag(cls, value: object) -> object:
        """`True`/`False` (the former flag) mean a full decode / none."""
        if isinstance(value, bool):
            return "full" if value else "off"
        return value

    @field_validator("aspect")
    @classmethod
    def known_aspect(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_aspect(value)
            except MediaError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("fps", mode="before")
    @classmethod
    def fps_as_text(cls, value: object) -> object:
        return None if value is None else str(value)
