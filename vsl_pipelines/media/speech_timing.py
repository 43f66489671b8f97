"""Captions timed to a narration's words: the voice's pauses (FFmpeg `silencedetect`) split the
caption into phrases, each shown while it is spoken.

No text-to-speech model gives word timings yet, so they are estimated: a phrase boundary sits
at each pause, and the words between pauses are spread over the speech by their length. When a
model supplies `(word, start, end)` timings, `phrase_cues(words=...)` uses them instead.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from vsl_pipelines.media.captions import CaptionCue
from vsl_pipelines.media.ffmpeg import run_ffmpeg

# Measured on espeak-ng voices (24 kHz, the sandbox's Kokoro stand-in): the pause at a comma
# lasts 0.15-0.20 s and at a full stop ~0.30 s; inside a phrase nothing stays below -35 dB for
# even 0.10 s (stops like the k of "cook" are shorter). -30 dB moves pause edges by up to 60 ms
# into soft word endings, -40/-45 dB finds the same pauses; 0.2 s would miss commas.
SILENCE_DB = -35.0
MIN_PAUSE_S = 0.12
# Longest phrase shown at once; a longer run of words between pauses is split evenly.
MAX_PHRASE_WORDS = 7
# The last phrase stays this long after the voice ends (the caption should not vanish with
# the last syllable); the compile cuts it at the section's end.
TAIL_S = 0.3

_SILENCE_START = re.compile(r"lavfi\.silence_start=(-?[\d.]+)")
_SILENCE_END = re.compile(r"lavfi\.silence_end=(-?[\d.]+)")


class Silence(BaseModel):
    start_s: float
    end_s: float


def silence_map(
    path: Path | str,
    duration_s: float,
    *,
    noise_db: float = SILENCE_DB,
    min_pause_s: float = MIN_PAUSE_S,
    timeout_s: float = 60.0,
) -> list[Silence]:
    """The voice's silences (at least `min_pause_s` below `noise_db`), in order.

    `silencedetect` tags the frames where a silence starts and ends; `ametadata` writes those
    tags to a file (FFmpeg's log would need its info level, which `run_ffmpeg` keeps quiet). A
    silence still open at the end (trailing silence) ends at `duration_s`."""
    with tempfile.TemporaryDirectory(prefix="vsl-silence-") as scratch:
        tags = Path(scratch) / "silences.txt"
        chain = (
            f"silencedetect=noise={noise_db}dB:duration={min_pause_s},"
            f"ametadata=mode=print:file={tags}"
        )
        args = ["-i", str(path), "-map", "0:a:0", "-af", chain, "-f", "null", "-"]
        run_ffmpeg(args, step="silence map", timeout_s=timeout_s, clip=path)
        text = tags.read_text() if tags.exists() else ""
    silences: list[Silence] = []
    start: float | None = None
    for line in text.splitlines():
        if match := _SILENCE_START.search(line):
            start = max(0.0, float(match.group(1)))
        elif (match := _SILENCE_END.search(line)) and start is not None:
            silences.append(Silence(start_s=start, end_s=min(float(match.group(1)), duration_s)))
            start = None
    if start is not None and start < duration_s:
        silences.append(Silence(start_s=start, end_s=duration_s))
    return silences


def speech_runs(duration_s: float, silences: Sequence[Silence]) -> list[tuple[float, float]]:
    """The spans between the silences: where the voice speaks."""
    runs: list[tuple[float, float]] = []
    at = 0.0
    for silence in sorted(silences, key=lambda s: s.start_s):
        if silence.start_s > at:
            runs.append((at, min(silence.start_s, duration_s)))
        at = max(at, silence.end_s)
    if at < duration_s:
        runs.append((at, duration_s))
    return [(a, b) for a, b in runs if b > a]


def _weight(word: str) -> int:
    """A word's share of speaking time: its letters and digits (at least one)."""
    return max(1, sum(ch.isalnum() for ch in word))


def _spread(words: Sequence[str], runs: Sequence[tuple[float, float]]) -> list[float]:
    """Each word's estimated start: the runs' speaking time shared out by the words' lengths
    (the silences between the runs are skipped)."""
    total = sum(b - a for a, b in runs)
    weights = [_weight(w) for w in words]
    scale = total / sum(weights)
    starts: list[float] = []
    spoken = 0.0
    for weight in weights:
        starts.append(_real_time(spoken, runs))
        spoken += weight * scale
    return starts


def _real_time(spoken: float, runs: Sequence[tuple[float, float]]) -> float:
    """The time in the voice at which `spoken` seconds of speech have passed."""
    for a, b in runs:
        if spoken < b - a - 1e-9:
            return a + spoken
        spoken -= b - a
    return runs[-1][1]


def _split_long(
    phrases: list[tuple[list[str], list[float]]], max_words: int
) -> list[tuple[list[str], float]]:
    """Phrases of more than `max_words` cut into even pieces at their words' estimated times."""
    out: list[tuple[list[str], float]] = []
    for words, starts in phrases:
        pieces = math.ceil(len(words) / max_words)
        size = math.ceil(len(words) / pieces)
        for i in range(0, len(words), size):
            out.append((words[i : i + size], starts[i]))
    return out


def phrase_cues(
    text: str,
    voice_duration_s: float,
    silences: Sequence[Silence] = (),
    offset_s: float = 0.0,
    *,
    words: Sequence[tuple[str, float, float]] | None = None,
    max_words: int = MAX_PHRASE_WORDS,
    tail_s: float = TAIL_S,
    min_pause_s: float = MIN_PAUSE_S,
) -> list[CaptionCue]:
    """`text` as short cues, each from when its first word is spoken (plus `offset_s`, where
    the voice starts in the output) to the next cue, the last to the voice's end + `tail_s`.

    Without `words`: each pause between two speech runs starts a phrase at the word whose
    estimated start (spread by length over all the speech) is nearest to it, and that phrase
    starts exactly where the pause ends; the words of each phrase are then spread over its own
    runs. A pause with no word left for it (more pauses than words) joins its neighbours.
    With `words` (a model's `(word, start_s, end_s)` timings) phrases break where one word
    ends at least `min_pause_s` before the next starts."""
    if words:
        phrases = _phrases_from_words(words, min_pause_s)
    else:
        phrases = _phrases_from_pauses(text.split(), voice_duration_s, silences)
    pieces = _split_long(phrases, max_words)
    cues: list[CaptionCue] = []
    end = voice_duration_s + tail_s + offset_s
    for number, (phrase, start) in enumerate(pieces):
        following = pieces[number + 1][1] + offset_s if number + 1 < len(pieces) else end
        cues.append(
            CaptionCue(
                start_s=round(start + offset_s, 4),
                end_s=round(max(following, start + offset_s), 4),
                text=" ".join(phrase),
            )
        )
    return cues


def _phrases_from_words(
    words: Sequence[tuple[str, float, float]], min_pause_s: float
) -> list[tuple[list[str], list[float]]]:
    phrases: list[tuple[list[str], list[float]]] = []
    previous_end: float | None = None
    for word, start, end in words:
        if not phrases or (previous_end is not None and start - previous_end >= min_pause_s):
            phrases.append(([], []))
        phrases[-1][0].append(word)
        phrases[-1][1].append(start)
        previous_end = end
    return phrases


_CLAUSE_END = tuple(",.;:!?—…)\"'")
SNAP_WORDS = 2


def _snap_to_punctuation(
    tokens: Sequence[str], word_spoken: Sequence[float], nearest: int, first: int, pause: float
) -> int:
    """A voice pauses where the text is punctuated: when a word within `SNAP_WORDS` of the
    estimate follows punctuation, the phrase starts there. Letters are a rough clock (a short
    word like "a" is not said in a fifth of "planned"'s time), so the estimate alone put
    "Meet Planwise: a | week of dinners" (measured on the sample's espeak voice)."""
    candidates = [
        i
        for i in range(max(first, nearest - SNAP_WORDS), min(len(tokens), nearest + SNAP_WORDS + 1))
        if tokens[i - 1].endswith(_CLAUSE_END)
    ]
    if not candidates:
        return nearest
    return min(candidates, key=lambda i: abs(word_spoken[i] - pause))


def _phrases_from_pauses(
    tokens: list[str], duration_s: float, silences: Sequence[Silence]
) -> list[tuple[list[str], list[float]]]:
    if not tokens:
        return []
    runs = speech_runs(duration_s, silences) or [(0.0, duration_s)]
    # Where, in speaking time, each pause between two runs falls.
    pauses: list[float] = []
    spoken = 0.0
    for a, b in runs[:-1]:
        spoken += b - a
        pauses.append(spoken)
    total = spoken + runs[-1][1] - runs[-1][0]
    weights = [_weight(t) for t in tokens]
    scale = total / sum(weights)
    word_spoken = [sum(weights[:i]) * scale for i in range(len(tokens))]
    # The first run of each phrase: pause k is followed by run k + 1.
    boundaries: list[tuple[int, int]] = [(0, 0)]  # (first word, first run)
    for number, pause in enumerate(pauses):
        first = boundaries[-1][0] + 1
        if first >= len(tokens):
            break
        nearest = min(range(first, len(tokens)), key=lambda i: abs(word_spoken[i] - pause))
        nearest = _snap_to_punctuation(tokens, word_spoken, nearest, first, pause)
        # A word nearer the next pause belongs to that one: this pause joins its neighbours.
        later = pauses[number + 1] if number + 1 < len(pauses) else None
        if later is not None and abs(word_spoken[nearest] - later) < abs(
            word_spoken[nearest] - pause
        ):
            continue
        boundaries.append((nearest, number + 1))
    phrases: list[tuple[list[str], list[float]]] = []
    for i, (first_word, first_run) in enumerate(boundaries):
        last_word, last_run = (
            boundaries[i + 1] if i + 1 < len(boundaries) else (len(tokens), len(runs))
        )
        group = tokens[first_word:last_word]
        starts = _spread(group, runs[first_run:last_run])
        phrases.append((group, starts))
    return phrases
