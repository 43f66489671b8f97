"""Where a picture's subject is, so a clip cropped into another aspect keeps it (`reframe: crop`).

The subject is taken to be where the picture is sharpest: generated clips, like filmed ones,
keep their subject in focus over a softer background, and flat areas (sky, a wall, a blurred
room) have no edges. A few frames are decoded small, their edges found (Pillow's edge filter),
and the crop centred on the edges' centre of mass, weighted towards the strongest so a few
sharp details outweigh a textured background. No model, a few milliseconds a clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vsl_pipelines.media.probe import MediaProbe

if TYPE_CHECKING:
    from PIL import Image

SAMPLE_WIDTH = 96  # pixels across the decoded frames; enough to place a subject
SAMPLES = (0.1, 0.5, 0.9)  # where in a clip frames are taken (fractions of its length)
# How far from the centre the crop may move, as a fraction of the picture: edges at one border
# (a sharp frame line, text) should not drag the crop entirely to it.
MAX_SHIFT = 0.35


def focus_point(probe: MediaProbe) -> tuple[float, float]:
    """The subject's centre in `probe`'s picture, as fractions of its width and height
    ((0.5, 0.5): the middle, also when nothing stands out)."""
    from PIL import ImageFilter

    if probe.rotation:  # frames decode unrotated; the middle is as good a guess
        return 0.5, 0.5
    frames = _small_frames(probe)
    if not frames:
        return 0.5, 0.5
    total = sx = sy = 0.0
    for frame in frames:
        edges = frame.filter(ImageFilter.FIND_EDGES)
        width, height = edges.size
        for index, value in enumerate(edges.getdata()):
            x, y = index % width, index // width
            if x in (0, width - 1) or y in (0, height - 1):
                continue  # the filter's own border, not the picture's
            weight = float(value) ** 2
            total += weight
            sx += weight * (x + 0.5) / width
            sy += weight * (y + 0.5) / height
    if total <= 0:
        return 0.5, 0.5
    return _within(sx / total), _within(sy / total)


def _within(value: float) -> float:
    return round(min(0.5 + MAX_SHIFT, max(0.5 - MAX_SHIFT, value)), 3)


def _small_frames(probe: MediaProbe) -> list[Image.Image]:
    """A few frames of the clip (the image itself for a still), grey, `SAMPLE_WIDTH` wide."""
    import av

    pictures = []
    with av.open(str(Path(probe.path))) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        points = SAMPLES if probe.kind == "video" and probe.duration_s else (0.0,)
        for fraction in points:
            if probe.kind == "video" and stream.time_base:
                seconds = (probe.duration_s or 0) * fraction
                container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                height = max(2, round(SAMPLE_WIDTH * frame.height / max(1, frame.width)))
                pictures.append(frame.to_image().convert("L").resize((SAMPLE_WIDTH, height)))
                break
    return pictures
