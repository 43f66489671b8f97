import pytest

from tests.fixtures.media import decode_summary
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.media.stills import still_to_clip


@pytest.mark.parametrize("zoom", [False, True])
def test_still_to_clip(make_image, tmp_path, zoom):
    out = still_to_clip(
        make_image(300, 200), tmp_path / "s.mp4", duration_s=1.0, width=160, height=90,
        fps=25, zoom=zoom, silent_audio=True, preset="ultrafast",
    )  # fmt: skip
    probe = probe_media(out)
    assert (probe.codec, probe.pix_fmt, probe.width, probe.height) == ("h264", "yuv420p", 160, 90)
    assert probe.has_audio and probe.audio_codec == "aac"
    summary = decode_summary(out)
    assert summary["frames"] == 25
    assert summary["sizes"] == {(160, 90)}


def test_still_to_clip_refuses_missing_image(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        still_to_clip(tmp_path / "no.png", tmp_path / "s.mp4", duration_s=1, width=160, height=90)
