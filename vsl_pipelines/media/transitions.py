"""Joins clips with xfade (video) and acrossfade (audio) in one encode, offsets exact to the frame.

Final duration = sum of clip durations - (clips - 1) x transition seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from vsl_pipelines.media.graph import FilterGraph
from vsl_pipelines.media.normalize import (
    audio_chain,
    clip_input_args,
    picture_offset,
    silence_source,
    video_chain,
)
from vsl_pipelines.media.plan import CompilePlan
from vsl_pipelines.media.probe import MediaProbe
from vsl_pipelines.media.stills import still_chain, still_input_args


def add_clip_inputs(
    graph: FilterGraph, plan: CompilePlan, probes: Sequence[MediaProbe]
) -> list[tuple[str, str | None]]:
    """One input per clip, normalized to the profile inside the graph: [(video, audio label)]."""
    profile = plan.profile
    labels: list[tuple[str, str | None]] = []
    for clip, probe in zip(plan.clips, probes, strict=True):
        vlabel, alabel = graph.label("v"), graph.label("a") if profile.has_audio else None
        tag = f"r{clip.index}"  # the reframe's own labels, one set per clip
        if clip.kind == "image":
            index = graph.add_input(still_input_args(probe.path, profile, clip.zoom))
            chain = still_chain(profile, clip.duration_s, clip.zoom, clip.reframe, tag, clip.focus)
            graph.add(f"[{index}:v:0]{chain}{vlabel}")
        else:
            index = graph.add_input(clip_input_args(probe.path, clip.timing))
            chain = video_chain(
                probe, profile, clip.duration_s, clip.timing, clip.reframe, tag, clip.focus
            )
            graph.add(f"[{index}:v:0]{chain}{vlabel}")
        if alabel and probe.has_audio:
            chain = audio_chain(profile, clip.duration_s, clip.timing, picture_offset(probe))
            graph.add(f"[{index}:a:0]{chain}{alabel}")
        elif alabel:
            graph.add(f"{silence_source(profile, clip.duration_s)}{alabel}")
        labels.append((vlabel, alabel))
    return labels


def add_transitions(
    graph: FilterGraph, plan: CompilePlan, probes: Sequence[MediaProbe]
) -> tuple[str, str | None]:
    """Chain xfade/acrossfade over all clips; returns the final video and audio labels."""
    labels = add_clip_inputs(graph, plan, probes)
    kind, seconds = plan.transition or "fade", plan.transition_s
    fps = plan.profile.fps_fraction
    video, audio = labels[0]
    elapsed = Fraction(0)
    for clip, (next_video, next_audio) in zip(plan.clips, labels[1:], strict=False):
        elapsed += Fraction(round(Fraction(clip.duration_s) * fps), 1) / fps - Fraction(seconds)
        out = graph.label("x")
        graph.add(
            f"{video}{next_video}xfade=transition={kind}:duration={seconds}"
            f":offset={float(elapsed):.6f}{out}"
        )
        video = out
        if audio and next_audio:
            mixed = graph.label("y")
            graph.add(f"{audio}{next_audio}acrossfade=d={seconds}:c1=tri:c2=tri{mixed}")
            audio = mixed
    return video, audio
