"""Real media for sandbox predictions: Pillow title cards, FFmpeg motion, melodies and muxing.

Each renderer writes one file; sizes, frame counts and durations follow the model's inputs.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from vsl_pipelines.media.binaries import ffmpeg_path

# The sizes black-forest-labs/flux-schnell returns for each aspect ratio at 1 megapixel.
FLUX_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}
SVD_FRAMES = {"14_frames_with_svd": 14, "25_frames_with_svd_xt": 25}
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
AUDIO_RATE = 32000
PENTATONIC = (261.63, 293.66, 329.63, 392.0, 440.0, 523.25, 587.33, 659.25)


class RenderError(RuntimeError):
    """A prediction's media could not be made; the message becomes the prediction's error."""


def _even(value: float) -> int:
    return max(2, int(value / 2 + 0.5) * 2)


def _ratio(aspect_ratio: str) -> float:
    try:
        width, height = (float(part) for part in aspect_ratio.split(":"))
        return width / height
    except ValueError:
        raise RenderError(f"aspect_ratio {aspect_ratio!r} is not of the form W:H") from None


def image_size(params: dict[str, Any]) -> tuple[int, int]:
    """Output size of a text-to-image model from `width`/`height` or `aspect_ratio`."""
    if "width" in params or "height" in params:
        return int(params.get("width", 1024)), int(params.get("height", 1024))
    aspect_ratio = str(params.get("aspect_ratio", "1:1"))
    size = FLUX_SIZES.get(aspect_ratio)
    width, height = size or _sized_by_area(_ratio(aspect_ratio), 1024 * 1024)
    if str(params.get("megapixels", "1")) == "0.25":
        width, height = 16 * round(width / 32), 16 * round(height / 32)
    return width, height


def _sized_by_area(ratio: float, area: int) -> tuple[int, int]:
    width = math.sqrt(area * ratio)
    return 16 * round(width / 16), 16 * round(width / ratio / 16)


def video_size(params: dict[str, Any]) -> tuple[int, int]:
    """Size of a text-to-video output: `width`/`height`, else `aspect_ratio` x `resolution`."""
    if "width" in params and "height" in params:
        return _even(float(params["width"])), _even(float(params["height"]))
    ratio = _ratio(str(params.get("aspect_ratio", "16:9")))
    short_side = int(str(params.get("resolution", "720p")).rstrip("pP") or 720)
    if ratio >= 1:
        return _even(short_side * ratio), _even(short_side)
    return _even(short_side), _even(short_side / ratio)


def prompt_colour(prompt: str, seed: int) -> tuple[int, int, int]:
    """A dark background colour that changes with prompt and seed (white text stays legible)."""
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    return digest[0] % 140, digest[1] % 140, digest[2] % 140


def title_card(prompt: str, seed: int, width: int, height: int) -> Image.Image:
    """The prompt in white on a prompt-coloured background with a few seeded shapes for texture."""
    background = prompt_colour(prompt, seed)
    card = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(card)
    rng = random.Random(f"{prompt}|{seed}")
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(4, min(width, height) // 20), max(8, min(width, height) // 5))
        shade = tuple(min(255, c + rng.randrange(30, 90)) for c in background)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=shade)
    font_size = max(12, min(width, height) // 14)
    font = ImageFont.load_default(size=font_size)
    columns = max(8, int(width / (font_size * 0.6)) - 2)
    lines = textwrap.wrap(prompt or "(empty prompt)", columns)[: max(1, height // font_size - 1)]
    text = "\n".join(lines)
    box = draw.multiline_textbbox((0, 0), text, font=font, align="center")
    left = (width - (box[2] - box[0])) / 2
    top = (height - (box[3] - box[1])) / 2
    draw.multiline_text(
        (left, top), text, font=font, fill=(255, 255, 255), align="center",
        stroke_width=max(1, font_size // 16), stroke_fill=(0, 0, 0),
    )  # fmt: skip
    return card


def render_image(
    prompt: str, seed: int, width: int, height: int, output_format: str, quality: int, dest: Path
) -> Path:
    image_format = IMAGE_FORMATS.get(output_format.lower())
    if image_format is None:
        raise RenderError(f"output_format {output_format!r} is not one of webp, jpg, png")
    card = title_card(prompt, seed, width, height)
    options = {"quality": quality} if image_format in ("JPEG", "WEBP") else {"compress_level": 1}
    card.save(dest, image_format, **options)
    return dest


def run_ffmpeg(args: list[str], timeout_s: float = 300) -> None:
    command = [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RenderError(f"ffmpeg took longer than {timeout_s:g} s") from None
    if result.returncode != 0:
        raise RenderError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()[-500:]}")


def sized_for_video(image: Image.Image, sizing_strategy: str) -> Image.Image:
    """The input image at the size stable-video-diffusion would output for `sizing_strategy`."""
    width, height = image.size
    if sizing_strategy == "crop_to_16_9":
        return ImageOps.fit(image, (1024, 576), Image.Resampling.BILINEAR)
    if sizing_strategy == "use_image_dimensions":
        target = (_even(width), _even(height))
    elif sizing_strategy == "maintain_aspect_ratio":
        scale = 1024 / max(width, height)
        target = (_even(width * scale), _even(height * scale))
    else:
        raise RenderError(f"unknown sizing_strategy {sizing_strategy!r}")
    return image if image.size == target else image.resize(target, Image.Resampling.BILINEAR)


def decode_image(content: bytes, source: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(content))
        return ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise RenderError(f"{source} is not a readable image: {exc}") from None


def _zoom_filter(frames: int, fps: float, width: int, height: int) -> list[str]:
    """Output options of a slow centred zoom (1.0 to 1.15) over a still: motion any image shows."""
    step = 0.15 / max(1, frames - 1)
    zoompan = (
        f"zoompan=z='1+{step:.6f}*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
        f":d={frames}:s={width}x{height}:fps={fps:g},format=yuv420p"
    )
    return ["-filter:v", zoompan, "-frames:v", str(frames)]


_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-pix_fmt", "yuv420p"]


def render_image_to_video(
    image: Image.Image, frames: int, fps: float, sizing_strategy: str, dest: Path
) -> Path:
    """An H.264 MP4 without audio: the sized input image slowly zooming, `frames` frames."""
    sized = sized_for_video(image, sizing_strategy)
    with tempfile.TemporaryDirectory(prefix="vsl-sandbox-") as scratch:
        still = Path(scratch) / "still.png"
        sized.save(still, "PNG", compress_level=1)
        width, height = sized.size
        run_ffmpeg(
            ["-i", str(still), *_zoom_filter(frames, fps, width, height), *_H264, "-an",
             "-movflags", "+faststart", str(dest)]
        )  # fmt: skip
    return dest


def melody_expression(seed: int, channels: int = 2) -> str:
    """An aevalsrc expression: eight seeded pentatonic notes, two per second, with a decay."""
    rng = random.Random(seed)
    notes = [rng.choice(PENTATONIC) for _ in range(8)]
    frequency = "0"
    for index in reversed(range(len(notes))):
        frequency = f"if(eq(mod(floor(t*2)\\,8)\\,{index})\\,{notes[index]}\\,{frequency})"
    envelope = "(1-0.7*mod(t*2\\,1))"
    tone = f"0.3*{envelope}*sin(2*PI*t*{frequency})"
    right = f"0.25*{envelope}*sin(2*PI*t*{frequency}*1.5)"
    return "|".join([tone, right][:channels])


def _melody_input(seed: int, duration: float) -> list[str]:
    source = f"aevalsrc=exprs={melody_expression(seed)}:s={AUDIO_RATE}:d={duration:g}"
    return ["-f", "lavfi", "-i", source]


def render_text_to_video(
    prompt: str, seed: int, duration: float, width: int, height: int, fps: float, dest: Path
) -> Path:
    """An H.264 + AAC MP4: the prompt's title card zooming for `duration` seconds, with a melody."""
    frames = max(1, round(duration * fps))
    with tempfile.TemporaryDirectory(prefix="vsl-sandbox-") as scratch:
        still = Path(scratch) / "card.png"
        title_card(prompt, seed, width, height).save(still, "PNG", compress_level=1)
        run_ffmpeg(
            ["-i", str(still), *_melody_input(seed, duration), "-map", "0:v", "-map", "1:a",
             *_zoom_filter(frames, fps, width, height), *_H264, "-c:a", "aac", "-b:a", "96k",
             "-t", f"{duration:g}", "-movflags", "+faststart", str(dest)]
        )  # fmt: skip
    return dest


def render_melody(seed: int, duration: float, output_format: str, dest: Path) -> Path:
    """A stereo 32 kHz melody of exactly `duration` seconds as WAV (pcm_s16le) or MP3."""
    codec = {"wav": ["-c:a", "pcm_s16le"], "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"]}
    if output_format not in codec:
        raise RenderError(f"output_format {output_format!r} is not one of wav, mp3")
    run_ffmpeg(
        [*_melody_input(seed, duration), "-ac", "2", "-ar", str(AUDIO_RATE),
         *codec[output_format], "-t", f"{duration:g}", str(dest)]
    )  # fmt: skip
    return dest
