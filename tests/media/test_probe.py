from pathlib import Path

import pytest

from vsl_pipelines.media import probe as probe_module
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.probe import probe_media


@pytest.fixture(params=["quick", "full"])
def open_path(request, monkeypatch) -> str:
    """Run a test once with MP4s opened the quick way (no find_stream_info) and once in full."""
    threshold = 0 if request.param == "quick" else 1 << 62
    monkeypatch.setattr(probe_module, "QUICK_MIN_BYTES", threshold)
    return request.param


def test_quick_and_full_open_describe_mp4s_alike(make_clip, broken_media, monkeypatch):
    files = [
        make_clip(width=160, height=90, fps=25, rate=44100, layout="mono"),
        make_clip(fps="30000/1001", audio=False),
        make_clip(rotation=90),
        make_clip(rotation=270, seconds=0.5),
        make_clip(width=120, height=90, sar="4/3"),
        broken_media["audio_only"],
    ]
    for path in files:
        monkeypatch.setattr(probe_module, "QUICK_MIN_BYTES", 0)
        quick = probe_media(path)
        monkeypatch.setattr(probe_module, "QUICK_MIN_BYTES", 1 << 62)
        assert quick.model_dump() == probe_media(path).model_dump(), path.name


def test_probe_reads_stream_parameters(make_clip, open_path):
    probe = probe_media(make_clip(width=160, height=90, fps=25, rate=44100, layout="mono"))
    assert probe.kind == "video"
    assert (probe.codec, probe.width, probe.height, probe.pix_fmt) == ("h264", 160, 90, "yuv420p")
    assert probe.fps == "25" and probe.fps_float == 25.0
    assert probe.sar == "1:1" and probe.rotation == 0
    assert probe.duration_s == pytest.approx(1.0, abs=0.01)
    assert probe.has_audio and probe.audio_codec == "aac"
    assert (probe.audio_rate, probe.audio_channels, probe.audio_layout) == (44100, 1, "mono")
    assert probe.size_bytes > 0
    assert probe.model_dump(mode="json")["fps"] == "25"


def test_probe_ntsc_rate_and_rotation(make_clip, open_path):
    ntsc = probe_media(make_clip(fps="30000/1001", audio=False))
    assert ntsc.fps == "30000/1001" and not ntsc.has_audio
    rotated = probe_media(make_clip(rotation=90))
    assert rotated.rotation in (90, 270)
    assert (rotated.display_width, rotated.display_height) == (90, 160)


def test_probe_image_and_audio(make_image, broken_media):
    image = probe_media(make_image(200, 120))
    assert image.kind == "image" and (image.width, image.height) == (200, 120)
    audio = probe_media(broken_media["audio_only"])
    assert audio.kind == "audio" and audio.has_audio and audio.width == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("truncated", "truncated"),
        ("not_media", "not a readable media file"),
    ],
)
def test_probe_refuses_bad_input_naming_the_file(
    broken_media: dict[str, Path], name, message, open_path
):
    with pytest.raises(MediaError) as error:
        probe_media(broken_media[name])
    assert str(broken_media[name]) in str(error.value)
    assert message in str(error.value)


def test_probe_reads_where_each_stream_starts(make_clip, trim_clip, remux, open_path):
    """What joining needs to know: frames an edit list hides before the first shown one (a trim
    by stream copy), where each stream starts, how far into a packet the audio starts."""
    b_frames = make_clip(seconds=3.0, preset="veryfast")
    plain = probe_media(b_frames)  # decodes from before zero (B-frames), nothing hidden
    assert (plain.video_start_s, plain.video_preroll_s, plain.video_key_start) == (0, 0, True)
    assert (plain.audio_start_s, plain.audio_skip_s) == (0, 0)  # the priming packet hidden whole
    assert plain.audio_packet_s == pytest.approx(1024 / 48000)

    trimmed = probe_media(trim_clip(b_frames, 1.3))
    assert trimmed.video_preroll_s == pytest.approx(1.3, abs=1e-3)
    assert trimmed.video_start_s == 0 and trimmed.video_key_start
    assert trimmed.duration_s == pytest.approx(1.7, abs=1e-3)
    # 1.3 s is sample 62,400: 960 samples into the packet that starts at 61,440
    assert trimmed.audio_skip_s == pytest.approx(960 / 48000, abs=1e-5)

    late = probe_media(remux(f"late_{b_frames.name}", "-i", b_frames, "-output_ts_offset", "0.5"))
    assert late.video_start_s == pytest.approx(0.5, abs=1e-3)
    assert late.start_s == pytest.approx(0.5 - 1024 / 48000, abs=1e-3)  # priming not hidden
    assert late.audio_start_s == pytest.approx(late.start_s, abs=1e-5)

    undeclared = probe_media(make_clip(primed=False))  # AAC priming plays: no edit list
    assert (undeclared.audio_start_s, undeclared.audio_skip_s) == (0, 0)
