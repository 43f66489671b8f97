from pathlib import Path

import av
from PIL import Image, ImageChops

from vsl_pipelines.media.captions import CaptionCue, load_captions, render_caption
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.options import ClipInput, CompileOptions


def frame_at(path: Path, seconds: float) -> Image.Image:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= seconds:
                return frame.to_image()
    raise AssertionError("no frame")


def test_captions_are_burned_in_during_their_section(make_clip, tmp_path):
    clip = make_clip(width=320, height=180, seconds=1.0, pattern="smptebars")
    plain = compile_video([clip, clip], tmp_path / "plain.mp4")
    inputs = [ClipInput(path=clip, caption="Buy now and save"), ClipInput(path=clip)]
    captioned = compile_video(inputs, tmp_path / "cap.mp4", CompileOptions(preset="ultrafast"))
    assert captioned.verification.ok
    during = ImageChops.difference(
        frame_at(Path(plain.output), 0.5), frame_at(Path(captioned.output), 0.5)
    )
    after = ImageChops.difference(
        frame_at(Path(plain.output), 1.5), frame_at(Path(captioned.output), 1.5)
    )
    box = during.convert("L").point(lambda v: 255 if v > 40 else 0).getbbox()
    assert box is not None and box[1] > 180 // 2  # in the lower half
    assert after.convert("L").point(lambda v: 255 if v > 40 else 0).getbbox() is None


def test_render_caption_wraps_to_width(tmp_path):
    png = render_caption("word " * 30, 320, 180, tmp_path / "c.png")
    image = Image.open(png)
    assert image.mode == "RGBA" and image.width <= 320


def test_load_captions_formats(tmp_path):
    srt = tmp_path / "c.srt"
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:01,500\nHello\n\n2\n00:00:01,500 --> 00:00:03,000\nWorld\n"
    )
    assert load_captions(srt) == [
        CaptionCue(start_s=0, end_s=1.5, text="Hello"),
        CaptionCue(start_s=1.5, end_s=3.0, text="World"),
    ]
    per_clip = tmp_path / "c.json"
    per_clip.write_text('["one", "two"]')
    assert load_captions(per_clip) == ["one", "two"]
