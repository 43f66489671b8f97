"""Burned-in captions: each cue is drawn to a transparent PNG with Pillow's bundled font and
overlaid for its section's time span (no system fonts needed on a fresh machine).

Pillow is imported only when a caption is drawn: `vsl compile` without captions never loads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.graph import FilterGraph
from vsl_pipelines.media.profile import OutputProfile

if TYPE_CHECKING:
    from PIL import ImageFont


class CaptionCue(BaseModel):
    start_s: float
    end_s: float
    text: str


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int
) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [text]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > max_width:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class SafeArea:
    """Where captions may go in a width x height frame, in pixels from each edge.

    Landscape keeps the broadcast title-safe margin (5 % a side) and the 6 % above the bottom
    captions always had. A portrait frame (Reels, Shorts, TikTok) has the platform's own
    buttons down the right and its caption, name and music over the bottom fifth, so
    captions sit above that, inside 10 % side margins; a square one (feeds) has a smaller
    bar at the bottom."""

    left: int
    right: int
    bottom: int

    @classmethod
    def of(cls, width: int, height: int) -> SafeArea:
        if height > width * 1.2:
            side, bottom = 0.10, 0.22
        elif width > height * 1.2:
            side, bottom = 0.05, 0.06
        else:
            side, bottom = 0.06, 0.10
        return cls(
            left=round(width * side), right=round(width * side), bottom=round(height * bottom)
        )

    def width(self, frame_width: int) -> int:
        return frame_width - self.left - self.right


def render_caption(text: str, width: int, height: int, dest: Path) -> Path:
    """A PNG with the wrapped text on a translucent box, sized for a width x height video and
    no wider than its safe area (`SafeArea`)."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(10, round(min(width, height) * 0.055))
    font = ImageFont.load_default(size)
    pad = max(4, size // 3)
    room = SafeArea.of(width, height).width(width)
    lines = _wrap(text, font, room - 2 * pad)[:4]
    line_h = int(size * 1.25)
    box_w = min(room, int(max(font.getlength(line) for line in lines)) + 2 * pad)
    box_h = line_h * len(lines) + 2 * pad
    image = Image.new("RGBA", (box_w + box_w % 2, box_h + box_h % 2), (0, 0, 0, 150))
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        x = (box_w - font.getlength(line)) / 2
        draw.text((x, pad + row * line_h), line, font=font, fill=(255, 255, 255, 255))
    image.save(dest)
    return dest


def add_captions(
    graph: FilterGraph,
    video: str,
    cues: Sequence[CaptionCue],
    profile: OutputProfile,
    work_dir: Path,
) -> str:
    """Overlay each cue image during its span, centred in the frame's safe area (`SafeArea`),
    its bottom on the area's; returns the new video label."""
    safe = SafeArea.of(profile.width, profile.height)
    centre = safe.left + safe.width(profile.width) / 2
    for number, cue in enumerate(cues):
        if not cue.text.strip():
            continue
        png = render_caption(cue.text, profile.width, profile.height, work_dir / f"cap{number}.png")
        index = graph.add_input(["-i", png])
        out = graph.label("c")
        graph.add(
            f"{video}[{index}:v]overlay=x={centre:g}-w/2:y=H-h-{safe.bottom}"
            f":enable='between(t,{cue.start_s:.3f},{cue.end_s:.3f})'{out}"
        )
        video = out
    out = graph.label("c")
    graph.add(f"{video}format=yuv420p{out}")
    return out


_SRT_TIME = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)")


def _srt_seconds(text: str) -> float:
    match = _SRT_TIME.search(text)
    if not match:
        raise ValueError(f"bad SRT time {text!r}")
    h, m, s, ms = match.groups()
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 10 ** len(ms)


def load_captions(path: Path) -> list[str] | list[CaptionCue]:
    """`.srt` -> timed cues; `.json` -> a list of texts (one per clip) or of cues;
    anything else -> one caption per line, one line per clip."""
    if not path.is_file():
        raise MediaError("captions file not found", path)
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() == ".srt":
            cues = []
            for block in re.split(r"\n\s*\n", text.strip()):
                lines = [line for line in block.splitlines() if line.strip()]
                timing = next(i for i, line in enumerate(lines) if "-->" in line)
                start, end = lines[timing].split("-->")
                cues.append(
                    CaptionCue(
                        start_s=_srt_seconds(start),
                        end_s=_srt_seconds(end),
                        text="\n".join(lines[timing + 1 :]),
                    )
                )
            return cues
        if path.suffix.lower() == ".json":
            items = json.loads(text)
            if all(isinstance(item, str) for item in items):
                return list(items)
            return [CaptionCue.model_validate(item) for item in items]
    except (ValueError, StopIteration, TypeError) as exc:
        raise MediaError(f"unreadable captions ({exc})", path) from exc
    return text.splitlines()
