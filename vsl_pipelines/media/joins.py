"""The two ways a compile joins its planned clips into the staged output: by concat (parts
normalized only where they must change, joined by stream copy, then one pass for captions,
narration and soundtrack when there are any), or in one filter graph with transitions."""

from __future__ import annotations

import time
from pathlib import Path

from vsl_pipelines.logs import get_logger
from vsl_pipelines.media.avcc import ParameterSets
from vsl_pipelines.media.captions import add_captions
from vsl_pipelines.media.compile_work import CompileWork
from vsl_pipelines.media.concat import AudioPart, concat_copy
from vsl_pipelines.media.encoders import (
    audio_encoder_args,
    mp3_priming_trim,
    muxer_args,
    video_encoder_args,
)
from vsl_pipelines.media.ffmpeg import run_ffmpeg
from vsl_pipelines.media.graph import FilterGraph
from vsl_pipelines.media.mp4_header import read_video_avcc, replace_video_avcc
from vsl_pipelines.media.normalize import normalize_clip, picture_offset
from vsl_pipelines.media.plan import ClipPlan, CompilePlan
from vsl_pipelines.media.profile import OutputProfile
from vsl_pipelines.media.soundtrack import add_soundtrack
from vsl_pipelines.media.stills import render_still
from vsl_pipelines.media.transitions import add_transitions
from vsl_pipelines.media.voice import add_narration

log = get_logger(__name__)

PART_SUFFIX = {"webm": ".webm", "avi": ".avi"}


def join_by_concat(work: CompileWork) -> None:
    """Each clip copied or normalized into a part, the parts joined by stream copy (the MP4
    audio packet by packet beside them), then the finishing pass if there is one."""
    plan, profile = work.plan, work.profile
    ext = PART_SUFFIX.get(profile.format, ".mp4")
    started = time.perf_counter()
    header = _copied_parameter_sets(work)
    # MP4 audio is joined on its own, packet by packet (`concat.joined_audio_pipe`); parts hold
    # only what was encoded, and the pictures and sounds copied come from the clips themselves.
    joined_audio = profile.format == "mp4" and profile.has_audio
    parts: list[tuple[Path, float]] = []
    inpoints: list[float] = []
    sounds: list[AudioPart] = []
    for clip, probe in zip(plan.clips, work.probes, strict=True):
        source = Path(probe.path)
        part = work.folder / f"part{clip.index:04d}{ext}"
        # The concat demuxer keeps each file's ticks under the first file's time base: a copied
        # picture in another one (a phone's 1/600, Matroska's 1/1000) is remuxed into ours.
        retime = (
            clip.video == "copy"
            and profile.format == "mp4"
            and probe.time_base != (profile.time_base)
        )
        if joined_audio:
            needed = clip.video != "copy" or retime or clip.audio in ("encode", "silence")
        else:
            needed = not clip.copied or retime
        if needed:
            _encode_part(work, clip, part, profile, retime)
            if header is not None and clip.video != "copy" and header.admit(read_video_avcc(part)):
                # Our encodes differ among themselves (a full-range JPEG still beside a PNG
                # one, say): this one is encoded again under an id of its own.
                retry = profile.model_copy(update={"sps_id": header.free_id()})
                _encode_part(work, clip, part, retry, retime)
                header.admit(read_video_avcc(part))
        if clip.video != "copy":
            picture, inpoint = part, 0.0  # encoded from the clip's first frame on
        elif retime or (needed and not joined_audio):
            picture, inpoint = part, picture_offset(probe)  # copied into the part
        else:
            picture, inpoint = source, probe.video_start_s  # the clip's own packets
        parts.append((picture, clip.duration_s))
        inpoints.append(inpoint)
        if joined_audio:
            copied = clip.audio == "copy"
            sounds.append(
                AudioPart(
                    path=source if copied else part,
                    from_s=probe.video_start_s if copied else 0.0,
                    end_s=clip.start_s + clip.duration_s,
                )
            )
    work.timings["normalize"] = time.perf_counter() - started

    started = time.perf_counter()
    finishing = _finishing(work)
    joined = work.folder / f"joined{ext}" if finishing else work.staged
    packets = sum(_packet_estimate(clip.duration_s, profile) for clip in plan.clips)
    concat_copy(
        parts, joined, profile, timeout_s=work.deadline.left(), faststart=not finishing,
        packets=packets, inpoints=inpoints, audio=sounds,
    )  # fmt: skip
    if header is not None:
        _share_parameter_sets(plan, header, joined)
    work.timings["concat"] = time.perf_counter() - started
    if finishing:
        started = time.perf_counter()
        _finish(work, joined)
        work.timings["finish"] = time.perf_counter() - started


def _audio_once(profile: OutputProfile) -> bool:
    """AVI parts carry PCM: the whole track is encoded once at the end (`profile.PART_AUDIO`)."""
    return profile.has_audio and profile.part_audio_codec != profile.audio_codec


def _finishing(work: CompileWork) -> bool:
    """Whether the joined video takes one more pass (captions, voices, music, AVI's MP3)."""
    voiced = any(clip.narration for clip in work.plan.clips)
    return (
        bool(work.cues)
        or work.options.soundtrack is not None
        or _audio_once(work.profile)
        or voiced
    )


def _finish(work: CompileWork, joined: Path) -> None:
    """Captions burned into the joined picture, the voices, the clips' sound and the music
    mixed (or the track encoded once, for AVI), into the staged output."""
    plan, profile, options = work.plan, work.profile, work.options
    graph = FilterGraph()
    graph.add_input(["-i", joined])
    video = "0:v:0"
    audio = "[0:a:0]" if profile.has_audio else None
    codec_args: list[str] = []
    if work.cues:
        video = add_captions(graph, "[0:v:0]", work.cues, profile, work.folder)
        codec_args += video_encoder_args(profile, options.preset, options.crf, options.quality)
    else:
        codec_args += ["-c:v", "copy"]
    if any(clip.narration for clip in plan.clips) and audio:
        # The voices, the clips' sound and the music mixed and normalized (`voice.py`).
        audio = _primed(graph, add_narration(graph, audio, plan, options), profile)
        codec_args += audio_encoder_args(profile, options.quality)
    elif options.soundtrack is not None:
        audio = add_soundtrack(graph, audio, options.soundtrack, profile, plan.expected_duration_s)
        audio = _primed(graph, audio, profile)
        codec_args += audio_encoder_args(profile, options.quality)
    elif audio and _audio_once(profile):
        audio = _primed(graph, audio, profile)
        codec_args += audio_encoder_args(profile, options.quality)
    elif audio:
        audio = "0:a:0"
        codec_args += ["-c:a", "copy"]
    maps = ["-map", video] + (["-map", audio] if audio else [])
    args: list[str | Path] = [*graph.args(), *maps, *codec_args, "-map_metadata", "-1"]
    args += [*muxer_args(profile, faststart=True), work.staged]
    run_ffmpeg(args, step="captions, narration and soundtrack", timeout_s=work.deadline.left())


def _packet_estimate(seconds: float, profile: OutputProfile) -> int:
    audio = seconds * profile.audio_rate / 1024 if profile.has_audio else 0
    return int(seconds * profile.fps_fraction + audio) + 4


def _encode_part(
    work: CompileWork, clip: ClipPlan, part: Path, profile: OutputProfile, retime: bool
) -> None:
    """Render a still or normalize a clip into `part` in `profile` (concat mode)."""
    probe, options = work.probes[clip.index], work.options
    if clip.video == "render":
        render_still(
            probe.path, part, profile, seconds=clip.duration_s, zoom=clip.zoom,
            reframe=clip.reframe, focus=clip.focus, preset=options.preset, crf=options.crf, quality=options.quality,
            timeout_s=work.deadline.left(), step=f"still clip {clip.index + 1}",
        )  # fmt: skip
    else:
        normalize_clip(
            clip, probe, profile, part,
            preset=options.preset, crf=options.crf, quality=options.quality,
            timeout_s=work.deadline.left(),
            joined_audio=profile.format == "mp4" and profile.has_audio, retime=retime,
        )  # fmt: skip


def _copied_parameter_sets(work: CompileWork) -> ParameterSets | None:
    """The copied clips' H.264 parameter sets (the plan made sure they merge); None off MP4/H.264."""
    if work.profile.video_codec != "h264" or work.profile.format != "mp4":
        return None
    sets = ParameterSets()
    for clip, probe in zip(work.plan.clips, work.probes, strict=True):
        if clip.video == "copy" and probe.h264_record:
            sets.admit(probe.h264_record)
    return sets


def _share_parameter_sets(plan: CompilePlan, header: ParameterSets, joined: Path) -> None:
    """Give the joined MP4's sample description every part's H.264 parameter sets.

    FFmpeg's concat keeps only the first part's in the header (the others' go in-band at
    their keyframes), which players reading the header alone would apply to every clip."""
    merged = header.merged
    if merged is None or read_video_avcc(joined) == merged.to_bytes():
        return
    if not replace_video_avcc(joined, merged.to_bytes()):
        note = (
            "the clips' H.264 parameter sets could not share the MP4 header (no room for it): "
            "players that read them only from there may show some clips wrongly "
            "(reencode_all avoids it)"
        )
        plan.notes.append(note)
        log.warning("compile parameter sets", extra={"fields": {"note": note}})


def join_with_transitions(work: CompileWork) -> None:
    """Every clip decoded, crossed into the next, captioned, voiced and scored in one encode."""
    plan, profile, options = work.plan, work.profile, work.options
    started = time.perf_counter()
    graph = FilterGraph()
    video, audio = add_transitions(graph, plan, work.probes)
    if work.cues:
        video = add_captions(graph, video, work.cues, profile, work.folder)
    if audio and any(clip.narration for clip in plan.clips):
        audio = add_narration(graph, audio, plan, options)
    elif options.soundtrack is not None:
        audio = add_soundtrack(graph, audio, options.soundtrack, profile, plan.expected_duration_s)
    if audio:
        audio = _primed(graph, audio, profile)
    maps = ["-map", video] + (["-map", audio] if audio else [])
    codec_args = video_encoder_args(profile, options.preset, options.crf, options.quality)
    codec_args += audio_encoder_args(profile, options.quality) if audio else []
    args: list[str | Path] = [*graph.args(), *maps, *codec_args, "-map_metadata", "-1"]
    args += [*muxer_args(profile, faststart=True), work.staged]
    run_ffmpeg(args, step=f"{plan.transition} transitions", timeout_s=work.deadline.left())
    work.timings["transitions"] = time.perf_counter() - started


def _primed(graph: FilterGraph, audio: str, profile: OutputProfile) -> str:
    """`audio` trimmed by the MP3 encoder's delay for AVI (see `encoders.mp3_priming_trim`)."""
    trim = mp3_priming_trim(profile)
    if not trim:
        return audio
    source = audio if audio.startswith("[") else f"[{audio}]"
    out = graph.label("p")
    graph.add(f"{source}{trim}{out}")
    return out
