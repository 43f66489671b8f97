"""Compiling a script: its approved clips, in section order, with its soundtrack, into one video.

A compile is first requested (`request_compile` from the API, or the approval sensor's
automatic request with the script's own options); the compile run carries the request out.
Refuses a script with any section not approved; the output is written to the store atomically.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsl_pipelines.db import audit
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.compilations import CompilationRow
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import SectionRow
from vsl_pipelines.domain.narration import spoken_text
from vsl_pipelines.domain.script import Output, Script, ScriptError
from vsl_pipelines.logs import get_logger
from vsl_pipelines.media.options import ClipInput, CompileOptions, SoundtrackSpec
from vsl_pipelines.metrics import emf as metrics
from vsl_pipelines.services.cuts import StoredCut, compile_cut, compile_variant_cuts, cut_name
from vsl_pipelines.services.review import unapproved_sections
from vsl_pipelines.storage.base import MediaStore

log = get_logger(__name__)


class NotApproved(RuntimeError):
    """Some section's current take is not approved (`missing` names them)."""

    def __init__(self, script_id: str, missing: list[str]) -> None:
        super().__init__(
            f"script {script_id!r} cannot compile: section(s) {', '.join(missing)} "
            "have no approval for their current take"
        )
        self.missing = missing


class CompileInFlight(RuntimeError):
    """The script already has a compilation requested or running."""


class NotInFlight(RuntimeError):
    """The compilation a run was asked to carry out is already finished."""


class CompilationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CompiledVideo:
    """What a compile stored: the video (`output` its URI, `key` in the store), its figures,
    the engine's plan and verification (as JSON), and the compilation it carried out."""

    script_id: str
    output: str
    key: str
    duration_s: float
    clips: int
    cost_usd: float
    size_bytes: int
    plan: dict[str, Any]
    compilation_id: int
    format: str
    quality: str
    poster_key: str | None
    verification: dict[str, Any] | None
    requested_by: str = "api"
    # Each rendition (aspect, key, size, duration), the checks across them and of the delivery
    # files (name, ok, detail), and the delivery files' keys (`services.cuts`).
    renditions: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    delivery: dict[str, Any] = field(default_factory=dict)


# The output options a compile request may change. `delivery` is changed switch by switch (a
# request naming only `hls` keeps the script's captions, chapters and poster); the others whole.
OVERRIDES = (
    "size", "fps", "transition", "captions", "timing", "renditions", "reframe", "delivery",
)  # fmt: skip


def request_compile(
    conn: Conn,
    script_id: str,
    *,
    output_format: str | None = None,
    quality: str = "standard",
    overrides: dict[str, Any] | None = None,
    requested_by: str = "api",
) -> CompilationRow:
    """Record a compile request with `overrides` of the script's output options (validated
    against them: ScriptError names the field); the compile sensor launches its run."""
    script = script_rows.load_stored_script(conn, script_id)
    missing = unapproved_sections(conn, script_id)
    if missing:
        raise NotApproved(script_id, missing)
    changes = {k: v for k, v in (overrides or {}).items() if k in OVERRIDES and v is not None}
    output = _effective_output(script.output, changes, output_format)
    row = compilation_rows.request_compilation(
        conn,
        script_id,
        output_format=output.format,
        quality=quality,
        options=changes,
        requested_by=requested_by,
    )
    if row is None:
        busy = compilation_rows.in_flight(conn, script_id)
        what = f"compilation {busy.id} is {busy.status}" if busy else "a compilation is"
        raise CompileInFlight(
            f"script {script_id!r}: {what} already; one at a time per script"
            " (a run that died is re-executed from the Dagster UI)"
        )
    workspace_id = script_rows.script_workspace(conn, script_id)
    if workspace_id is not None:
        audit.record(
            conn,
            workspace_id,
            requested_by,
            "compile.requested",
            f"script:{script_id}",
            {"compilation_id": row.id, "format": output.format, "quality": quality},
        )
    log.info(
        "compile requested",
        extra={"script_id": script_id, "fields": {"compilation_id": row.id}},
    )
    return row


def requested_output(script_output: Output, row: CompilationRow) -> Output:
    """The output options compilation `row` compiles with: the script's, with its request's
    overrides and format."""
    return _effective_output(script_output, row.options, row.output_format)


def _effective_output(output: Output, changes: dict[str, Any], fmt: str | None) -> Output:
    changes = {k: v for k, v in changes.items() if k in OVERRIDES}
    if isinstance(changes.get("delivery"), dict):
        changes["delivery"] = {**output.delivery.model_dump(), **changes["delivery"]}
    try:
        return output.overridden({**changes, **({"format": fmt} if fmt else {})})
    except ValueError as exc:  # pydantic's ValidationError is one
        raise ScriptError(f"output options: {exc}") from None


def compilation_of(conn: Conn, compilation_id: int) -> CompilationRow:
    row = compilation_rows.compilation(conn, compilation_id)
    if row is None:
        raise CompilationNotFound(f"compilation {compilation_id} does not exist")
    return row


def release_compilation(conn: Conn, compilation_id: int, reason: str) -> bool:
    """Fail a compilation whose run died before finishing it, so the script may be compiled
    again (else every new request is refused with 409 while the row says `running`); the
    script goes back to review. False when the row had finished meanwhile."""
    row = compilation_rows.compilation(conn, compilation_id)
    if row is None or row.status != "running":
        return False
    compilation_rows.fail_compilation(conn, compilation_id, reason)
    script_rows.move_status(conn, row.script_id, "review", ("compiling",))
    log.warning(
        "compilation released",
        extra={"script_id": row.script_id, "fields": {"compilation_id": compilation_id}},
    )
    return True


def compile_script(
    db: Database, store: MediaStore, script_id: str, compilation_id: int | None = None
) -> CompiledVideo:
    """Compile the approved takes as compilation `compilation_id` asks (without one, with the
    script's own options); record the result; return its summary."""
    started = time.monotonic()
    with db.connect() as conn:
        script = script_rows.load_stored_script(conn, script_id)
        missing = unapproved_sections(conn, script_id)
        if missing and compilation_id is not None:
            # The request is answered (failed), not left in flight to block the next one.
            refusal = NotApproved(script_id, missing)
            compilation_rows.fail_compilation(conn, compilation_id, str(refusal))
    if missing:
        raise NotApproved(script_id, missing)
    with db.connect() as conn:
        sections = script_rows.sections_of(conn, script_id)
        voices = section_voices(conn, script, sections)
        pictures = [
            section_picture(conn, script, row, voice.media_key is not None)
            for row, voice in zip(sections, voices, strict=True)
        ]
        soundtracks = take_rows.takes_of(conn, script_id, "soundtrack")
        cost = job_rows.committed_cost_usd(job_rows.all_jobs(conn, script_id))
        if compilation_id is None:
            row = compilation_rows.start_compilation(conn, script_id, script.output.format)
        else:
            claimed = compilation_rows.claim_compilation(conn, compilation_id, script_id)
            if claimed is None:
                raise NotInFlight(
                    f"compilation {compilation_id} of {script_id!r} is not requested or running"
                    " (it finished; request another)"
                )
            row = claimed
        compilation_id = row.id
        script_rows.set_status(conn, script_id, "compiling")
    output = requested_output(script.output, row)
    timed_text = output.captions or bool(output.delivery.captions)
    inputs = {
        section.id: ClipInput(
            path=store.local_path(picture.key),
            zoom=picture.zoom,
            caption=voice.text if timed_text else None,
            narration=store.local_path(voice.media_key) if voice.media_key else None,
            reframe=section.reframe,
            title=section.group,
        )
        for picture, voice, section in zip(pictures, voices, script.sections, strict=True)
        if picture is not None
    }
    combinations = script.cuts()
    soundtrack_path = store.local_path(soundtracks[-1].media_key) if soundtracks else None
    try:
        with tempfile.TemporaryDirectory(prefix="vsl-compile-") as tmp:
            options = CompileOptions(
                size=output.size,
                fps=output.fps,
                format=output.format,
                quality=row.quality,
                transition=output.transition_spec(),
                captions=output.captions,
                voice=output.timing,
                reframe=output.reframe or ("crop" if output.renditions else "fit"),
                soundtrack=SoundtrackSpec(path=soundtrack_path) if soundtrack_path else None,
            )
            name = cut_name(script_id, compilation_id)
            if len(combinations) == 1:
                order = [inputs[s] for s in combinations[0].sections if s in inputs]
                cuts = [compile_cut(store, script_id, name, order, options, output, Path(tmp))]
            else:
                cuts = compile_variant_cuts(
                    store, script_id, name, combinations, inputs, options, output, Path(tmp)
                )
    except Exception as exc:
        with db.connect() as conn:
            compilation_rows.fail_compilation(conn, compilation_id, str(exc))
            script_rows.set_status(conn, script_id, "review")
        log.error("compilation failed", extra={"script_id": script_id})
        raise
    cut = cuts[0]
    result, key, uri, size = cut.result, cut.key, cut.uri, cut.size_bytes
    clip_count = len(result.plan.clips)
    plan = {
        **result.plan.summary(),
        "clips": result.plan.model_dump(mode="json")["clips"],
        "renditions": cut.renditions,
        "output_checks": across_cuts(cuts),
        "delivery": cut.delivery,
        "voice": output.timing.model_dump(mode="json")
        if any(v.media_key for v in voices)
        else None,
    }
    if len(cuts) > 1:
        # Each cut's files, by its variant key (the watch page plays the one it names).
        plan["cuts"] = [
            {
                "variant": c.variant,
                "name": c.name,
                "key": c.key,
                "duration_s": round(c.result.duration_s, 3),
                "renditions": c.renditions,
                "delivery": c.delivery,
            }
            for c in cuts
        ]
    summary = CompiledVideo(
        script_id=script_id,
        output=uri,
        key=key,
        duration_s=round(result.duration_s, 3),
        clips=clip_count,
        cost_usd=round(cost, 4),
        size_bytes=size,
        plan=plan,
        compilation_id=compilation_id,
        format=output.format,
        quality=row.quality,
        poster_key=cut.poster_key,
        verification=result.verification.model_dump(mode="json") if result.verification else None,
        requested_by=row.requested_by,
        renditions=cut.renditions,
        checks=plan["output_checks"],
        delivery=cut.delivery,
    )
    with db.connect() as conn:
        compilation_rows.finish_compilation(
            conn,
            compilation_id,
            output_key=key,
            output_uri=uri,
            duration_s=result.duration_s,
            size_bytes=size,
            clip_count=clip_count,
            cost_usd=cost,
            plan=plan,
        )
        for made in cuts:  # each cut's watch page exists as soon as its video does
            watch_rows.ensure_cut(conn, compilation_id, made.variant)
        script_rows.set_status(conn, script_id, "compiled")
    log.info("script compiled", extra={"script_id": script_id, "fields": {"key": key}})
    metrics.record(
        {"CompileTime": round(time.monotonic() - started, 3), "CostUSD": round(cost, 4)},
        action="script_compiled",
        script_id=script_id,
    )
    return summary


def across_cuts(cuts: list[StoredCut]) -> list[dict[str, Any]]:
    """The output checks of every cut, one per name: ok when every cut's is, each cut's
    detail named by its variant key when there are several."""
    merged: dict[str, dict[str, Any]] = {}
    for cut in cuts:
        for check in cut.checks:
            detail = check["detail"] if len(cuts) == 1 else f"{cut.variant}: {check['detail']}"
            found = merged.setdefault(
                check["name"], {"name": check["name"], "ok": True, "detail": ""}
            )
            found["ok"] = found["ok"] and bool(check["ok"])
            found["detail"] = "; ".join(d for d in (found["detail"], detail) if d)
    return list(merged.values())


def expected_duration(conn: Conn, script_id: str) -> float:
    """How long the final video should last, from the stored takes rather than the engine's
    plan: a voiced section lasts its voice plus the script's pad, another its approved clip;
    less the overlap of each transition between two sections (which a voiced section makes
    room for, so voices never overlap)."""
    script = script_rows.load_stored_script(conn, script_id)
    first = set(script.cuts()[0].sections)  # the cut the compile's summary names
    every = script_rows.sections_of(conn, script_id)
    voices = [
        voice
        for row, voice in zip(every, section_voices(conn, script, every), strict=True)
        if row.id in first
    ]
    sections = [row for row in every if row.id in first]
    clips = [take_rows.take_of(conn, script_id, s.id, "clip", s.current_take) for s in sections]
    transition = script.output.transition_spec()
    overlap = transition.seconds if transition and len(sections) > 1 else 0.0
    pad = script.output.timing.pad_s
    total = 0.0
    for index, (voice, clip) in enumerate(zip(voices, clips, strict=True)):
        if voice.duration_s is not None:
            last = index == len(sections) - 1
            total += voice.duration_s + pad + (0.0 if last else overlap)
        else:
            total += float(clip.duration_s or 0) if clip else 0.0
    return total - overlap * (len(sections) - 1)


@dataclass(frozen=True)
class SectionVoice:
    """What a section's voice says and, when the section is voiced and its current narration
    take is stored, that take's media and length."""

    text: str
    media_key: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class Picture:
    """What a section shows: its approved clip, or for a voiced still section its keyframe
    (the engine renders it exactly as long as the voice, the zoom at its own pace, rather than
    stretching the clip made at the script's `duration_s`)."""

    key: str
    zoom: bool | None = None


def section_picture(conn: Conn, script: Script, row: SectionRow, voiced: bool) -> Picture | None:
    """The picture of a section (a `sections` row) for its current take, `voiced` when its
    narration take is stored; None before it is stored."""
    section = script.section(row.id)
    if section.still is not None and voiced:
        keyframe = take_rows.take_of(conn, script.id, row.id, "keyframe", row.current_take)
        if keyframe is not None:
            return Picture(keyframe.media_key, zoom=section.still.zoom)
    clip = take_rows.take_of(conn, script.id, row.id, "clip", row.current_take)
    return Picture(clip.media_key) if clip is not None else None


def section_voices(conn: Conn, script: Script, sections: list[SectionRow]) -> list[SectionVoice]:
    """Each section's (in order) spoken words and current narration take, if voiced."""
    voices = []
    for row, section in zip(sections, script.sections, strict=True):
        text = spoken_text(row, section)
        narration = None
        if script.voice_of(section) is not None:
            narration = take_rows.take_of(conn, script.id, row.id, "narration", row.narration_take)
        if narration is None:
            voices.append(SectionVoice(text))
        else:
            duration = narration.duration_s
            voices.append(
                SectionVoice(text, narration.media_key, float(duration) if duration else None)
            )
    return voices


@dataclass(frozen=True)
class CompileRequests:
    """What the compile sensor follows: the requests to launch and the compilations whose
    run died."""

    db: Database

    def requested(self, limit: int) -> list[CompilationRow]:
        """Compile requests no run has claimed yet, oldest first."""
        with self.db.connect() as conn:
            return compilation_rows.requested(conn, limit)

    def running(self, limit: int) -> list[CompilationRow]:
        """Compilations claimed by a run and not finished, oldest first."""
        with self.db.connect() as conn:
            return compilation_rows.running(conn, limit)

    def release(self, compilation_id: int, reason: str) -> bool:
        """`release_compilation` in a transaction of its own."""
        with self.db.connect() as conn:
            return release_compilation(conn, compilation_id, reason)


@dataclass(frozen=True)
class Compiler:
    """Compiles a script's approved takes, as the `compiled_video` asset does."""

    db: Database
    store: MediaStore

    def compile(self, script_id: str, compilation_id: int | None = None) -> CompiledVideo:
        return compile_script(self.db, self.store, script_id, compilation_id)

    def expected_duration(self, script_id: str) -> float:
        with self.db.connect() as conn:
            return expected_duration(conn, script_id)
