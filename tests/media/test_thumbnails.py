import pytest
from PIL import Image

from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.thumbnails import make_poster, make_thumbnail, make_thumbnail_strip


def test_thumbnail_from_video_and_image(make_clip, make_image, tmp_path):
    video = make_thumbnail(make_clip(width=320, height=180, seconds=1.0), tmp_path / "v.jpg", 100)
    assert Image.open(video).size == (100, 56)
    image = make_thumbnail(make_image(200, 100), tmp_path / "i.png", width=50)
    assert Image.open(image).size == (50, 26) or Image.open(image).size == (50, 25 + 1)


def test_poster_and_strip(make_clip, tmp_path):
    clip = make_clip(width=320, height=180, seconds=1.0)
    assert Image.open(make_poster(clip, tmp_path / "p.jpg")).size == (320, 180)
    strip = make_thumbnail_strip(clip, tmp_path / "s.jpg", count=4, width=80)
    assert Image.open(strip).size == (320, 46)


def test_thumbnail_refuses_audio(broken_media, tmp_path):
    with pytest.raises(MediaError, match="no picture"):
        make_thumbnail(broken_media["audio_only"], tmp_path / "a.jpg")
