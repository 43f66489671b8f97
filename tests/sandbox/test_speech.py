"""The sandbox's text-to-speech: real words from libespeak-ng (the `speech` extra), else a tone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
import replicate

from vsl_pipelines.media.binaries import ffmpeg_path
from vsl_pipelines.media.probe import probe_media
from vsl_pipelines.sandbox import speech

KOKORO = "jaaari/kokoro-82m:f559560eb822dc509045f3921a1921234918b91739db4bf3daab2169b71c7a13"
HOOK = "Tired of deciding what to cook every single night?"


def mean_volume_db(path: Path) -> float:
    result = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(path), "-af", "volumedetect",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", result.stderr)
    assert found, result.stderr[-500:]
    return float(found.group(1))


def test_speech_is_real_words_that_decode_and_grow_with_the_text(tmp_path: Path) -> None:
    assert speech.speech_available(), "the `speech` extra (espeakng-loader) is in `dev`"
    short = speech.render_speech(HOOK, "af_bella", 1.0, tmp_path / "short.wav")
    longer = speech.render_speech(
        HOOK + " Meet Planwise: a week of dinners planned in ten minutes.",
        "bm_george",
        1.0,
        tmp_path / "long.wav",
    )
    probes = [probe_media(short), probe_media(longer)]
    assert [p.kind for p in probes] == ["audio", "audio"]
    assert [(p.audio_codec, p.audio_rate, p.audio_channels) for p in probes] == [
        ("pcm_s16le", 24_000, 1)
    ] * 2
    assert 1.5 < (probes[0].duration_s or 0) < 4.5
    assert (probes[1].duration_s or 0) > (probes[0].duration_s or 0) + 1.5
    assert mean_volume_db(short) > -35  # speech, not silence (-91 dB)
    slower = speech.render_speech(HOOK, "af_bella", 0.6, tmp_path / "slow.wav")
    assert (probe_media(slower).duration_s or 0) > (probes[0].duration_s or 0) * 1.3


def test_without_the_extra_a_tone_lasts_as_long_as_the_speech(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speech, "_load_engine", lambda: None)
    tone = speech.render_speech(HOOK, "af_bella", 1.0, tmp_path / "tone.wav")
    probe = probe_media(tone)
    assert probe.kind == "audio"
    assert probe.duration_s == pytest.approx(speech.estimated_duration_s(HOOK, 1.0), abs=0.05)
    assert 2.0 < (probe.duration_s or 0) < 4.5  # about what the words take (2.6 s spoken)
    assert mean_volume_db(tone) > -35


def test_the_sandbox_speaks_a_kokoro_prediction(
    replicate_client: replicate.Client, tmp_path: Path
) -> None:
    prediction = replicate_client.predictions.create(
        version=KOKORO, input={"text": HOOK, "voice": "am_adam", "speed": 1.2}
    )
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert isinstance(prediction.output, str) and prediction.output.endswith("/output.wav")
    path = tmp_path / "out.wav"
    path.write_bytes(httpx.get(prediction.output, timeout=30).content)
    assert probe_media(path).kind == "audio" and mean_volume_db(path) > -35
    refused = replicate_client.predictions.create
    with pytest.raises(replicate.exceptions.ReplicateError, match="voice"):
        refused(version=KOKORO, input={"text": HOOK, "voice": "hal_9000"})
