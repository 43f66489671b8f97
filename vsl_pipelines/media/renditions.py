"""One final video per aspect from the same inputs (a script's `output.renditions`), and the
checks that hold them together: each at its frame, all as long as each other, sound in step.

Each rendition is a compile of its own (`compile_video` with `CompileOptions.aspect`): its
clips are planned for its frame, so a clip already at that frame is still stream-copied, one
of another aspect is cropped or set over a blurred fill (`normalize.frame_chain`), and the
captions are laid out for that frame (`captions.SafeArea`). The timing of every section comes
from its voice and the frame rate, not the frame, so the renditions last alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel

from vsl_pipelines.media.compile import CompileResult, compile_video
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.media.profile import parse_aspect, same_aspect


def rendition_name(aspect: str) -> str:
    """`9:16` -> `9x16`, as it shows in a file name."""
    return aspect.replace(":", "x")


class RenditionCheck(BaseModel):
    name: str
    ok: bool
    detail: str


def compile_renditions(
    inputs: Sequence[ClipInput | Path | str],
    outputs: Mapping[str, Path],
    options: CompileOptions,
) -> dict[str, CompileResult]:
    """`outputs` (aspect -> file), each compiled from `inputs` at its aspect, in order."""
    return {
        aspect: compile_video(inputs, output, options.model_copy(update={"aspect": aspect}))
        for aspect, output in outputs.items()
    }


def rendition_checks(results: Mapping[str, CompileResult]) -> list[RenditionCheck]:
    """Each rendition at its aspect with every frame at its size; every rendition within a
    frame of the others' length; each one's sound ending with its picture. Sizes and sound
    are read from each compile's verification (which decodes the output); without one, from
    its plan."""
    sizes, lengths, steps = [], [], []
    for aspect, result in results.items():
        profile = result.plan.profile
        checks = {c.name: c for c in result.verification.checks} if result.verification else {}
        frames = checks.get("every frame size")
        at_aspect = same_aspect(profile.width, profile.height, parse_aspect(aspect))
        sizes.append(
            (
                at_aspect and (frames is None or frames.ok),
                f"{aspect} {profile.width}x{profile.height}"
                + (f" ({frames.detail})" if frames else ""),
            )
        )
        lengths.append((aspect, result.duration_s, Fraction(profile.fps)))
        in_step = checks.get("audio in step")
        if in_step is not None:
            steps.append((in_step.ok, f"{aspect}: {in_step.detail}"))
    frame = max((float(1 / fps) for _, _, fps in lengths), default=0.0)
    spread = max(s for _, s, _ in lengths) - min(s for _, s, _ in lengths) if lengths else 0.0
    return [
        RenditionCheck(
            name="renditions at their sizes",
            ok=all(ok for ok, _ in sizes),
            detail="; ".join(detail for _, detail in sizes),
        ),
        RenditionCheck(
            name="renditions within a frame",
            ok=spread <= frame + 0.002,
            detail=", ".join(f"{a} {s:.3f} s" for a, s, _ in lengths)
            + f" (spread {spread:.3f} s, a frame {frame:.3f} s)",
        ),
        RenditionCheck(
            name="renditions audio in step",
            ok=all(ok for ok, _ in steps),
            detail="; ".join(detail for _, detail in steps) or "no audio",
        ),
    ]
