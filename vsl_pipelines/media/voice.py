"""The narration mix: every section's voice placed at its section's start on one voice bus, the
clips' own sound kept, lowered or dropped under it, the music ducked under both, one loudness.

Runs in the pass that re-encodes the audio anyway (concat's finishing pass, or the transitions
encode), so the parts themselves are untouched by it and may still be stream-copied.
"""

from __future__ import annotations

from pathlib import Path

from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.media.graph import FilterGraph
from vsl_pipelines.media.options import CompileOptions, VoiceTiming
from vsl_pipelines.media.plan import ClipPlan, CompilePlan
from vsl_pipelines.media.probe import MediaProbe, probe_media
from vsl_pipelines.media.profile import OutputProfile
from vsl_pipelines.media.soundtrack import add_soundtrack, audio_format, loudness_chain
from vsl_pipelines.media.speech_timing import Silence, silence_map, speech_runs

# Without a soundtrack the voice-only mix gets the soundtrack's default target, so a narrated
# video plays as loud with or without music.
VOICE_LUFS = -16.0
VOICE_TRUE_PEAK_DB = -1.5


def probe_voice(path: Path | str) -> MediaProbe:
    """The narration's probe; a file without sound or of no length is a `MediaError` naming it."""
    probe = probe_media(path)
    if not probe.has_audio:
        raise MediaError("narration has no audio stream", path)
    if (probe.audio_duration_s or probe.duration_s or 0.0) <= 0.0:
        raise MediaError("narration has no length (0 s of audio)", path)
    return probe


def voice_silences(probe: MediaProbe, timeout_s: float = 60.0) -> list[Silence]:
    """The voice's silence map; a voice that is silence throughout is a `MediaError`."""
    duration = probe.audio_duration_s or probe.duration_s
    silences = silence_map(probe.path, duration, timeout_s=timeout_s)
    if not speech_runs(duration, silences):
        raise MediaError("narration is silent (nothing above -35 dB)", probe.path)
    return silences


def narrated(plan: CompilePlan) -> list[ClipPlan]:
    return [clip for clip in plan.clips if clip.narration]


def add_voice_bus(graph: FilterGraph, plan: CompilePlan) -> str:
    """All the voices on one track as long as the video, each starting with its section."""
    profile = plan.profile
    samples = round(plan.expected_duration_s * profile.audio_rate)
    placed: list[str] = []
    for clip in narrated(plan):
        index = graph.add_input(["-i", clip.narration or ""])
        delay = round(clip.start_s * profile.audio_rate)
        label = graph.label("n")
        # A mono voice goes to both channels; `adelay` counts samples ("S"), so a voice starts
        # on the very sample its section does.
        graph.add(
            f"[{index}:a:0]aresample={profile.audio_rate},{audio_format(profile)},"
            f"asetpts=PTS-STARTPTS,adelay=delays={delay}S:all=1{label}"
        )
        placed.append(label)
    bus = graph.label("n")
    mix = (
        f"amix=inputs={len(placed)}:duration=longest:normalize=0," if len(placed) > 1 else "anull,"
    )
    graph.add(f"{''.join(placed)}{mix}apad,atrim=end_sample={samples}{bus}")
    return bus


def clip_sound_under_voice(
    graph: FilterGraph, clip_audio: str, plan: CompilePlan, timing: VoiceTiming
) -> str:
    """The clips' sound, lowered (or silenced) while their sections are narrated, on a track
    exactly as long as the video (copied AAC parts may overlap by part of a frame at a join:
    resynced to their timestamps first, as the soundtrack does)."""
    profile = plan.profile
    samples = round(plan.expected_duration_s * profile.audio_rate)
    source = clip_audio if clip_audio.startswith("[") else f"[{clip_audio}]"
    chain = (
        f"aresample={profile.audio_rate}:async=1:min_hard_comp=0.01:first_pts=0,"
        f"{audio_format(profile)},apad,atrim=end_sample={samples}"
    )
    if timing.clip_audio != "keep":
        spans = "+".join(
            f"between(t,{clip.start_s:.4f},{section_end(clip, plan):.4f})"
            for clip in narrated(plan)
        )
        gain = "0" if timing.clip_audio == "drop" else f"{timing.lowered_db}dB"
        chain += f",volume=volume={gain}:enable='{spans}'"
    out = graph.label("b")
    graph.add(f"{source}{chain}{out}")
    return out


def section_end(clip: ClipPlan, plan: CompilePlan) -> float:
    """Where the next section's own sound begins (a transition overlaps the two)."""
    last = clip.index == len(plan.clips) - 1
    return clip.start_s + clip.duration_s - (0.0 if last else plan.transition_s)


def add_narration(
    graph: FilterGraph, clip_audio: str, plan: CompilePlan, options: CompileOptions
) -> str:
    """The final audio of a narrated compile: voices over the clips' sound, the music (if any)
    ducked under both (the soundtrack's sidechain is keyed by that mix) and one loudness
    target for the whole: the soundtrack's, or `VOICE_LUFS` without one."""
    profile: OutputProfile = plan.profile
    voices = add_voice_bus(graph, plan)
    bed = clip_sound_under_voice(graph, clip_audio, plan, options.voice)
    front = graph.label("f")
    graph.add(f"{voices}{bed}amix=inputs=2:duration=first:normalize=0{front}")
    if options.soundtrack is not None:
        return add_soundtrack(graph, front, options.soundtrack, profile, plan.expected_duration_s)
    samples = round(plan.expected_duration_s * profile.audio_rate)
    out = graph.label("f")
    graph.add(f"{front}{loudness_chain(VOICE_LUFS, VOICE_TRUE_PEAK_DB, profile, samples)}{out}")
    return out
