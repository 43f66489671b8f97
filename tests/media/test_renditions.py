"""Renditions: one video per aspect from the same inputs, each decoded at its frame, all as
long as each other; clips reframed by crop or over a blurred fill; captions in the safe area."""

from pathlib import Path

import av
import pytest
from PIL import ImageStat

from tests.fixtures.media import decode_summary
from vsl_pipelines.media.captions import SafeArea, render_caption
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.media.profile import frame_at_aspect, parse_aspect
from vsl_pipelines.media.renditions import compile_renditions, rendition_checks, rendition_name

SIZES = {"16:9": (160, 90), "9:16": (90, 160), "1:1": (90, 90)}


@pytest.fixture(scope="module")
def renditions(make_clip, make_image, make_voice, tmp_path_factory):
    folder = tmp_path_factory.mktemp("renditions")
    inputs = [
        ClipInput(path=make_clip(seconds=1.0), caption="Tired of deciding?", title="hook"),
        ClipInput(path=make_image(), narration=make_voice(seconds=1.2), caption="Meet Planwise."),
    ]
    outputs = {aspect: folder / f"cut-{rendition_name(aspect)}.mp4" for aspect in SIZES}
    options = CompileOptions(preset="ultrafast", reframe="crop", verify="full")
    return compile_renditions(inputs, outputs, options), outputs


def test_each_rendition_decodes_at_its_aspect_and_size(renditions):
    results, outputs = renditions
    lengths = []
    for aspect, path in outputs.items():
        summary = decode_summary(path)
        assert summary["sizes"] == {SIZES[aspect]}, aspect
        lengths.append(summary["video_end"])
        assert results[aspect].verification and results[aspect].verification.ok
    assert max(lengths) - min(lengths) <= 1 / 30 + 1e-3
    checks = rendition_checks(results)
    assert [c.name for c in checks if not c.ok] == []


def test_a_clip_at_the_frame_is_still_copied(renditions):
    results, _ = renditions
    assert results["16:9"].plan.clips[0].video == "copy"
    assert results["9:16"].plan.clips[0].video == "encode"


def _top_rows_mean(path: Path, at_s: float, rows: int = 12) -> float:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= at_s:
                image = frame.to_image().convert("L")
                return ImageStat.Stat(image.crop((0, 0, image.width, rows))).mean[0]
    raise AssertionError("no frame")


@pytest.mark.parametrize(("reframe", "filled"), [("fit", False), ("crop", True), ("blur", True)])
def test_reframe_fills_the_portrait_frame(make_clip, tmp_path, reframe, filled):
    """A 16:9 clip in a 9:16 frame: letterboxed leaves black above it; cropped or over its
    blurred fill, the picture reaches the top."""
    clip = make_clip(seconds=0.5)
    out = tmp_path / f"{reframe}.mp4"
    options = CompileOptions(preset="ultrafast", aspect="9:16", verify="off")
    from vsl_pipelines.media.compile import compile_video

    compile_video([ClipInput(path=clip, reframe=reframe)], out, options)
    top = _top_rows_mean(out, 0.2)
    assert (top > 30) is filled, top


def test_aspects_and_frames():
    assert frame_at_aspect((1920, 1080), parse_aspect("9:16")) == (1080, 1920)
    assert frame_at_aspect((1920, 1080), parse_aspect("1:1")) == (1080, 1080)
    assert frame_at_aspect((1080, 1920), parse_aspect("16:9")) == (1920, 1080)
    with pytest.raises(ValueError, match="aspect"):
        CompileOptions(aspect="wide")


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1080, 1080)])
def test_captions_stay_inside_the_safe_area(tmp_path, size):
    width, height = size
    text = "Start your free trial today and take back your evenings, every single one"
    png = render_caption(text, width, height, tmp_path / "cap.png")
    from PIL import Image

    box_w, box_h = Image.open(png).size
    safe = SafeArea.of(width, height)
    assert box_w <= safe.width(width)
    assert (width - box_w) / 2 >= safe.left - 1
    if height > width:
        assert safe.bottom >= 0.2 * height  # above the platforms' own captions and buttons
    assert height - safe.bottom - box_h > 0


def test_transitions_reframe_each_clip_in_one_graph(make_clip, make_image, tmp_path):
    """Clips and a zooming still, each blurred or cropped its own way, crossed in one graph."""
    from vsl_pipelines.media.compile import compile_video
    from vsl_pipelines.media.options import TransitionSpec

    inputs = [
        ClipInput(path=make_clip(seconds=1.0), reframe="blur"),
        ClipInput(path=make_image(), duration_s=1.0, zoom=True, reframe="blur"),
        ClipInput(path=make_clip(seconds=1.0)),
    ]
    options = CompileOptions(
        preset="ultrafast", aspect="9:16", reframe="crop",
        transition=TransitionSpec(type="fade", seconds=0.25), verify="full",
    )  # fmt: skip
    result = compile_video(inputs, tmp_path / "faded.mp4", options)
    assert [c.reframe for c in result.plan.clips] == ["blur", "blur", "crop"]
    assert result.verification and result.verification.ok
    assert decode_summary(tmp_path / "faded.mp4")["sizes"] == {(90, 160)}


def test_a_crop_follows_the_sharp_subject(tmp_path):
    """A detailed subject at the right of a flat, soft frame: the 9:16 crop moves onto it
    (a centred crop would show only the flat grey)."""
    import subprocess

    from vsl_pipelines.media.binaries import ffmpeg_path
    from vsl_pipelines.media.compile import compile_video

    clip = tmp_path / "subject-right.mp4"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=320x180:r=30:d=0.5",
         "-f", "lavfi", "-i", "testsrc2=s=70x150:r=30:d=0.5",
         "-filter_complex", "[0][1]overlay=x=235:y=15:shortest=1", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    out = tmp_path / "portrait.mp4"
    options = CompileOptions(preset="ultrafast", aspect="9:16", reframe="crop", verify="off")
    result = compile_video([ClipInput(path=clip)], out, options)
    assert result.plan.clips[0].focus[0] > 0.7, result.plan.clips[0].focus
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_image().convert("L")
    assert frame.size == (180, 320)
    assert ImageStat.Stat(frame).stddev[0] > 30, "the subject is in the frame"
