"""Speech for the sandbox's text-to-speech models: real words from libespeak-ng, else a tone.

libespeak-ng comes with the optional `speech` extra (the `espeakng-loader` wheel ships the
library and its data). espeak-ng is GPL-3, so only this module of the sandbox loads it, through
ctypes at run time, and nothing of the product imports it (tests/test_layers.py holds this).
Without the extra the sandbox renders a tone as long as the speech would be.

Either way the output is what Kokoro on Replicate returns: one WAV, 24 kHz mono, 16-bit.
"""

from __future__ import annotations

import ctypes
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from vsl_pipelines.sandbox.render import RenderError, run_ffmpeg

OUTPUT_RATE = 24_000  # Kokoro's sample rate
BASE_WPM = 175  # espeak-ng's default rate, words per minute, at speed 1
MIN_WPM, MAX_WPM = 80, 450  # what espeak-ng accepts
WORDS_PER_SECOND = BASE_WPM / 60
# espeak-ng's API (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
# Kokoro's voices name their language by their first letter.
LANGUAGE_OF_VOICE = {"a": "en-us", "b": "en"}  # espeak-ng: "en" is British English

_lock = threading.Lock()  # libespeak-ng keeps global state: one synthesis at a time
_engine: _Espeak | None = None


class _Espeak:
    """libespeak-ng from the `espeakng-loader` wheel, driven through ctypes."""

    CALLBACK = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
    )

    def __init__(self, library_path: str, data_path: str) -> None:
        self.lib = ctypes.CDLL(library_path)
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]  # fmt: skip
        self.rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if self.rate <= 0:
            raise RenderError(f"libespeak-ng did not start (data at {data_path})")
        self._chunks: list[bytes] = []
        self._callback = self.CALLBACK(self._collect)  # kept alive while the library holds it
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip

    def _collect(self, wav: Any, samples: int, events: Any) -> int:
        if samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0  # continue

    def synthesize(self, text: str, language: str, wpm: int) -> bytes:
        """Signed 16-bit mono PCM at `self.rate`."""
        if self.lib.espeak_SetVoiceByName(language.encode()) != 0:
            raise RenderError(f"libespeak-ng has no voice {language!r}")
        self.lib.espeak_SetParameter(_ESPEAK_RATE, wpm, 0)
        self._chunks = []
        data = text.encode() + b"\0"
        buffer = ctypes.create_string_buffer(data, len(data))
        status = self.lib.espeak_Synth(
            buffer, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        if status != 0:
            raise RenderError(f"libespeak-ng could not speak the text (status {status})")
        return b"".join(self._chunks)


def _load_engine() -> _Espeak | None:
    """libespeak-ng when the `speech` extra is installed, else None (once per process)."""
    global _engine
    if _engine is None:
        try:
            import espeakng_loader  # the optional, GPL-3 `speech` extra
        except ImportError:
            return None
        _engine = _Espeak(espeakng_loader.get_library_path(), espeakng_loader.get_data_path())
    return _engine


def speech_available() -> bool:
    with _lock:
        return _load_engine() is not None


def words_per_minute(speed: float) -> int:
    return int(min(MAX_WPM, max(MIN_WPM, round(BASE_WPM * speed))))


def estimated_duration_s(text: str, speed: float) -> float:
    """How long `text` takes to say at `speed` (words at espeak-ng's rate, plus pauses)."""
    words = len(re.findall(r"\w+", text))
    pauses = len(re.findall(r"[.!?;:,]", text))
    return round(max(0.5, words / (words_per_minute(speed) / 60) + 0.25 * pauses), 3)


def render_speech(text: str, voice: str, speed: float, dest: Path) -> Path:
    """`text` spoken (or, without libespeak-ng, a tone as long) as a 24 kHz mono WAV."""
    if not text.strip():
        raise RenderError("text is empty")
    language = LANGUAGE_OF_VOICE.get(voice[:1], "en-us")
    with _lock:
        engine = _load_engine()
        pcm = engine.synthesize(text, language, words_per_minute(speed)) if engine else None
        rate = engine.rate if engine else 0
    if pcm is None:
        return render_tone(estimated_duration_s(text, speed), dest)
    if not pcm:
        raise RenderError("libespeak-ng produced no audio")
    with tempfile.TemporaryDirectory(prefix="vsl-speech-") as scratch:
        raw = Path(scratch) / "speech.pcm"
        raw.write_bytes(pcm)
        run_ffmpeg(
            ["-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", str(raw),
             "-ar", str(OUTPUT_RATE), "-ac", "1", "-c:a", "pcm_s16le", str(dest)]
        )  # fmt: skip
    return dest


def render_tone(duration_s: float, dest: Path) -> Path:
    """A soft 220 Hz tone pulsing at a syllable's pace, `duration_s` long, as the WAV speech
    would be: the stand-in when the `speech` extra is not installed."""
    expression = "0.3*(0.6+0.4*sin(2*PI*t*4))*sin(2*PI*220*t)"
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"aevalsrc=exprs={expression}:s={OUTPUT_RATE}:d={duration_s:g}",
         "-ac", "1", "-c:a", "pcm_s16le", "-t", f"{duration_s:g}", str(dest)]
    )  # fmt: skip
    return dest
