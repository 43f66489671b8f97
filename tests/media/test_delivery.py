"""Delivery files for a landing page, read back with real decoders: the HLS master and its
rungs played by FFmpeg, keyframe-aligned segments, caption and chapter tracks, the poster."""

import re
import subprocess

import av
import pytest

from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.captions import CaptionCue, load_captions
from vsl_pipelines.media.compile import compile_video
from vsl_pipelines.media.delivery import (
    DeliverySpec,
    chapters_of,
    ladder_rungs,
    package_delivery,
    srt,
    webvtt,
)
from vsl_pipelines.media.options import ClipInput, CompileOptions

VTT_CUE = re.compile(r"^(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)$", re.M)


@pytest.fixture(scope="module")
def delivered(make_clip, make_image, make_voice, tmp_path_factory):
    """A two-section cut (a clip with a caption, a narrated still) and every delivery file,
    its captions not burnt in: the tracks come from the timed narration all the same."""
    folder = tmp_path_factory.mktemp("delivery")
    inputs = [
        ClipInput(path=make_clip(seconds=2.5), caption="Tired of deciding?", title="hook"),
        ClipInput(
            path=make_image(), narration=make_voice(seconds=1.5), caption="Meet Planwise & co.",
            title="offer",
        ),
    ]  # fmt: skip
    options = CompileOptions(preset="ultrafast", captions=False, verify="off")
    result = compile_video(inputs, folder / "cut.mp4", options)
    spec = DeliverySpec(hls=True, captions=["vtt", "srt"], chapters=True, poster=True)
    files = package_delivery(
        folder / "cut.mp4", folder, "cut", spec,
        cues=result.timed_text, chapters=chapters_of(result.plan),
    )  # fmt: skip
    return result, files


def test_hls_master_has_two_rungs_and_decodes(delivered):
    _, files = delivered
    assert files.hls is not None
    master = files.hls.master.read_text()
    streams = re.findall(r"#EXT-X-STREAM-INF:.*BANDWIDTH=(\d+).*RESOLUTION=(\d+x\d+)", master)
    assert len(streams) >= 2
    assert len({bandwidth for bandwidth, _ in streams}) == len(streams)
    # FFmpeg reads the master as a player does: every rung's video and the sound decode.
    run = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-v", "error", "-i", str(files.hls.master),
         "-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    with av.open(str(files.hls.master)) as container:
        sizes = {(s.width, s.height) for s in container.streams.video}
    assert sizes == {(r.width, r.height) for r in files.hls.rungs}


def test_hls_segments_line_up_on_keyframes(delivered):
    _, files = delivered
    assert files.hls is not None
    folder = files.hls.master.parent
    durations = [
        re.findall(r"#EXTINF:([\d.]+)", (folder / f"{rung.name}.m3u8").read_text())
        for rung in files.hls.rungs
    ]
    assert len(durations[0]) >= 2 and all(d == durations[0] for d in durations)
    for segment in folder.glob("*.ts"):
        with av.open(str(segment)) as container:
            first = next(p for p in container.demux(video=0) if p.size)
            assert first.is_keyframe, segment.name


def test_caption_tracks_hold_the_narration_cues(delivered):
    result, files = delivered
    vtt = files.files["captions.vtt"].read_text()
    assert vtt.startswith("WEBVTT\n")
    assert len(VTT_CUE.findall(vtt)) == len(result.timed_text) >= 2
    assert "Meet Planwise &amp; co." in vtt
    cues = load_captions(files.files["captions.srt"])
    assert [c.text for c in cues] == [c.text for c in result.timed_text]  # type: ignore[union-attr]
    voiced = result.plan.clips[1]
    assert cues[-1].start_s == pytest.approx(voiced.start_s, abs=0.002)  # type: ignore[union-attr]


def test_chapters_one_cue_per_section(delivered):
    result, files = delivered
    vtt = files.files["chapters.vtt"].read_text()
    spans = VTT_CUE.findall(vtt)
    assert len(spans) == len(result.plan.clips) == 2
    assert re.findall(r"^(hook|offer)$", vtt, re.M) == ["hook", "offer"]
    assert spans[1][0] == "00:00:02.500"


def test_poster_decodes(delivered):
    _, files = delivered
    with av.open(str(files.files["poster.jpg"])) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (160, 90)


def test_track_text_is_escaped_and_timed():
    cues = [CaptionCue(start_s=3661.5, end_s=3662.25, text="a <b> & c\n\nd")]
    assert "01:01:01.500 --> 01:01:02.250\na &lt;b&gt; &amp; c\nd" in webvtt(cues)
    assert "01:01:01,500 --> 01:01:02,250\na <b> & c\nd" in srt(cues)


def test_ladder_has_at_least_two_rungs():
    assert [r.name for r in ladder_rungs(1920, 1080, 30)] == ["1080p", "540p", "270p"]
    assert [r.name for r in ladder_rungs(160, 90, 30)] == ["90p", "44p"]
    assert [r.name for r in ladder_rungs(576, 1024, 6)] == ["576p", "288p"]
