"""`vsl demo` as a user runs it: the whole flow headless, real daemon, real servers.

Apart from test_flow_commands.py (`vsl dev`), so `--dist loadfile` gives each its own worker.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest
import yaml

from tests.cli.test_flow_commands import VSL, user_env
from vsl_pipelines.db.database import Database
from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch-variants.yaml"


@pytest.mark.timeout(420)
def test_demo_runs_any_script_to_a_video_whose_checks_all_pass(
    db: Database, tmp_path: Path
) -> None:
    """The narrated sample with two hook variants, renditions 16:9, 9:16 and 1:1 and delivery
    on (issue 27's done-when): six final videos, each cut's delivery files."""
    document = yaml.safe_load(SAMPLE.read_text())
    assert document["output"]["renditions"] == ["16:9", "9:16", "1:1"]
    fast_sensors = {f"VSL_{name}_SENSOR_INTERVAL": "1" for name in ("WEBHOOK", "APPROVAL")}
    done = subprocess.run(
        [VSL, "demo", "--script", str(SAMPLE), "--timeout", "360"],
        env=user_env(tmp_path, DATABASE_URL=db.url, **fast_sensors),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert result["script_id"].startswith("demo-") and result["clips"] == 3
    assert result["sections"] == 4, "each hook variant is a section of its own"
    assert result["checks"] and all(result["checks"].values()), result["checks"]
    assert "decodes_with_expected_duration" in result["checks"]
    # The estimate beside what the sandbox's predictions bill (their predict_time and images):
    # sandbox models run far faster than the estimated seconds, so the bill is smaller.
    cost = result["cost_usd"]
    assert 0 < cost["actual"] < cost["estimated"], cost
    with av.open(result["output"]) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        duration_s = float(container.duration or 0) / 1e6
        assert container.streams.audio, "the voices are in the video"
    assert frames > 0
    assert abs(result["duration_s"] - duration_s) < 0.1
    # Narrated: every section lasts its voice and its pause (whole frames).
    pad = document["output"]["timing"]["pad_s"]
    narration = result["narration"]
    assert [n["section"] for n in narration] == [1, 2, 3], narration
    for section in narration:
        assert section["section_s"] >= section["voice_s"] + pad - 0.011, section
        assert section["section_s"] <= section["voice_s"] + pad + 2 / 6, section
    assert duration_s == pytest.approx(sum(n["section_s"] for n in narration), abs=0.1)
    # One cut per hook, each in three renditions: six final videos.
    media = tmp_path / "data" / "media"
    cuts = result["cuts"]
    assert [c["variant"] for c in cuts] == ["hook=question", "hook=promise"]
    assert len(result["final_videos"]) == 6 == len(set(result["final_videos"]))
    hooks = ("Tired of deciding", "Dinner planned")
    for cut, hook in zip(cuts, hooks, strict=True):
        _assert_renditions_and_delivery(cut, media, hook)
    assert result["output"].endswith("-hook-question-16x9.mp4")
    # The one-off generation asked over the original API, collected by the daemon's run.
    adhoc = result["adhoc"]
    assert adhoc["status"] == "completed" and adhoc["error"] is None, adhoc
    url = urlsplit(adhoc["result"]["originalUrl"])
    assert url.query.startswith("sig="), "vsl demo signs its media URLs"
    key = url.path.split("/media/", 1)[1]
    stored = tmp_path / "data" / "media" / key
    with av.open(str(stored)) as container:
        picture = next(container.decode(video=0))
    assert (picture.width, picture.height) == (
        adhoc["result"]["width"],
        adhoc["result"]["height"],
    )
    assert picture.width > picture.height


def _assert_renditions_and_delivery(result: dict, media: Path, hook: str) -> None:
    """Three renditions that decode at their aspects within a frame of each other (their
    checks passed above), and the delivery files: an HLS master FFmpeg plays, caption tracks
    with the narration's cues, one chapter per section, a poster."""
    renditions = result["renditions"]
    assert [r["aspect"] for r in renditions] == ["16:9", "9:16", "1:1"]
    lengths = []
    for rendition in renditions:
        assert rendition["key"].endswith(f"-{rendition['aspect'].replace(':', 'x')}.mp4")
        with av.open(str(media / rendition["key"])) as container:
            sizes = {(f.width, f.height) for f in container.decode(video=0)}
            lengths.append(float(container.duration or 0) / 1e6)
        width, height = (int(side) for side in rendition["aspect"].split(":"))
        [(w, h)] = sizes
        assert abs(w * height - h * width) <= max(width, height), (rendition, sizes)
    assert max(lengths) - min(lengths) <= 1 / 6 + 0.01, lengths
    for rendition in renditions:  # each its own ladder and poster (the first decoded below)
        own = rendition["delivery"]
        assert (media / own["hls"]["master"]).read_text().count("#EXT-X-STREAM-INF") >= 2
        width, height = (int(side) for side in rendition["aspect"].split(":"))
        with av.open(str(media / own["poster"])) as container:
            frame = next(container.decode(video=0))
        assert abs(frame.width * height - frame.height * width) <= max(width, height) * 2
    delivery = result["delivery"]
    master = media / delivery["hls"]["master"]
    assert master.read_text().count("#EXT-X-STREAM-INF") >= 2
    played = subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(master), "-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert played.returncode == 0 and not played.stderr.strip(), played.stderr
    vtt = (media / delivery["captions"]["vtt"]).read_text()
    srt = (media / delivery["captions"]["srt"]).read_text()
    assert vtt.startswith("WEBVTT") and hook in vtt and hook in srt
    chapters = (media / delivery["chapters"]).read_text()
    assert chapters.count(" --> ") == 3 and "hook" in chapters and "close" in chapters
    assert delivery["poster"].endswith("-poster.jpg")
    with av.open(str(media / delivery["poster"])) as container:
        assert next(container.decode(video=0)).width > 0
