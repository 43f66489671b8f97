"""Background music: looped or trimmed to the video, faded out, ducked under clip speech,
and the whole mix normalized to an EBU R128 loudness target.
"""

from __future__ import annotations

from vsl_pipelines.media.graph import FilterGraph
from vsl_pipelines.media.options import SoundtrackSpec
from vsl_pipelines.media.profile import OutputProfile


def audio_format(profile: OutputProfile) -> str:
    rate, layout = profile.audio_rate, profile.audio_layout
    return f"aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts={layout}"


def loudness_chain(lufs: float, true_peak_db: float, profile: OutputProfile, samples: int) -> str:
    """EBU R128 normalization (loudnorm works at 192 kHz: back to the profile's rate and
    exactly `samples` long). Timestamps are renumbered from the samples at the end: loudnorm's
    frames can leave gaps in them, which the encoder keeps and the muxer turns into a track
    longer than its samples (a 3.03 s voice-only mix was muxed as 3.10 s)."""
    return (
        f"loudnorm=I={lufs}:TP={true_peak_db}:LRA=11,"
        f"aresample={profile.audio_rate},{audio_format(profile)},atrim=end_sample={samples},"
        "asetpts=N/SR/TB"
    )


def add_soundtrack(
    graph: FilterGraph,
    clip_audio: str | None,
    spec: SoundtrackSpec,
    profile: OutputProfile,
    duration_s: float,
) -> str:
    """Mix the music under `clip_audio` (or alone); returns the label of the final audio.

    With narration, `clip_audio` is the voices mixed over the clips' sound (`voice.py`), so
    the music is ducked under the voice as under speech in the clips."""
    rate = profile.audio_rate
    samples = round(duration_s * rate)
    fmt = audio_format(profile)
    fade = min(spec.fade_out_s, duration_s / 2)
    music_in = graph.add_input(["-stream_loop", "-1", "-i", spec.path])
    music = graph.label("m")
    gain = spec.music_gain_db if clip_audio else 0.0
    graph.add(
        f"[{music_in}:a:0]aresample={rate},{fmt},atrim=end_sample={samples},asetpts=PTS-STARTPTS,"
        f"afade=t=out:st={duration_s - fade:.4f}:d={fade:.4f},volume={gain}dB{music}"
    )
    loudness = loudness_chain(spec.loudness_lufs, spec.true_peak_db, profile, samples)
    out = graph.label("s")
    if clip_audio is None:
        graph.add(f"{music}{loudness}{out}")
        return out
    # Copied AAC clips may overlap by part of a frame at each joint: resync to timestamps first.
    voice = graph.label("s")
    graph.add(
        f"{clip_audio}aresample={rate}:async=1:min_hard_comp=0.01:first_pts=0,{fmt},"
        f"apad,atrim=end_sample={samples}{voice}"
    )
    bed = music
    if spec.ducking:
        voice, bed = duck_under(graph, voice, music)
    graph.add(f"{voice}{bed}amix=inputs=2:duration=first:normalize=0,{loudness}{out}")
    return out


def duck_under(graph: FilterGraph, sound: str, music: str) -> tuple[str, str]:
    """`music` ducked under `sound` (a sidechain keyed by it); returns the labels of the sound
    (split off the key) and of the ducked music."""
    speech, key, ducked = graph.label("s"), graph.label("k"), graph.label("d")
    graph.add(f"{sound}asplit=2{speech}{key}")
    graph.add(f"{music}{key}sidechaincompress=threshold=0.03:ratio=8:attack=20:release=400{ducked}")
    return speech, ducked
