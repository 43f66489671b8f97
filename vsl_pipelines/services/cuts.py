"""One cut of a script compiled and stored: its renditions (one video per aspect) and its
delivery files, under the script's `final/` prefix with names a person knows.

A cut is named `{script}-c{compilation}`; its files are that name with what they are:
`-9x16.mp4`, `-captions.vtt`, `-chapters.vtt`, and per rendition, named for its video,
`-9x16-poster.jpg` and `-9x16-hls/master.m3u8` (without renditions: `-poster.jpg`,
`-hls/master.m3u8`). A script with hook variants makes one cut per combination, named for it:
`{script}-c{compilation}-hook-a`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsl_pipelines.domain.script import Cut, Output
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.storage.base import MediaStore

if TYPE_CHECKING:  # PyAV: imported in the compile run only
    from vsl_pipelines.media.captions import CaptionCue
    from vsl_pipelines.media.compile import CompileResult
    from vsl_pipelines.media.delivery import Chapter, DeliveryFiles, DeliverySpec


def final_prefix(script_id: str) -> str:
    return f"scripts/{script_id}/final"


def cut_name(script_id: str, compilation_id: int) -> str:
    return f"{script_id}-c{compilation_id}"


@dataclass(frozen=True)
class StoredCut:
    """What `compile_cut` stored: the main video (the first rendition: the landing page's
    default), each rendition with its own `delivery`, the checks across them, and the first
    rendition's delivery files, by key; `variant` is its combination of variants (`hook=a`;
    `main` for a script without variants)."""

    name: str
    key: str
    uri: str
    variant: str
    size_bytes: int
    result: CompileResult
    renditions: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    delivery: dict[str, Any] = field(default_factory=dict)

    @property
    def poster_key(self) -> str | None:
        poster: str | None = self.delivery.get("poster")
        return poster


def compile_cut(
    store: MediaStore,
    script_id: str,
    name: str,
    inputs: list[ClipInput],
    options: CompileOptions,
    output: Output,
    workdir: Path,
) -> StoredCut:
    """Compile the cut `name` of `script_id` from `inputs` once per rendition of `output`
    (once at the clips' own aspect when it names none), package each one's delivery files,
    and store everything under the script's `final/` prefix (`store_cut`)."""
    from vsl_pipelines.media.compile import compile_video
    from vsl_pipelines.media.renditions import compile_renditions

    files = _rendition_files(workdir, name, output)
    unposted = options.model_copy(update={"poster": False})
    if output.renditions:
        results = compile_renditions(inputs, files, unposted)
    else:
        results = {"": compile_video(inputs, files[""], unposted)}
    return store_cut(store, script_id, name, files, results, options, output, workdir)


def compile_variant_cuts(
    store: MediaStore,
    script_id: str,
    name: str,
    cuts: list[Cut],
    sections: dict[str, ClipInput],
    options: CompileOptions,
    output: Output,
    workdir: Path,
) -> list[StoredCut]:
    """Every cut of a script with hook variants (`{name}-{cut.name}`), each with the renditions
    and delivery files of `output`. Per rendition, each section is compiled once into a
    finished part and the cuts are joined from the parts by stream copy
    (`media.variant_cuts`); WebM, AVI and transitions compile each cut whole."""
    from vsl_pipelines.media.variant_cuts import compile_cuts, shareable

    names = {cut.key: f"{name}-{cut.name}" for cut in cuts}
    files = {cut.key: _rendition_files(workdir, names[cut.key], output) for cut in cuts}
    if not shareable(options):
        return [
            compile_cut(
                store, script_id, names[cut.key], [sections[s] for s in cut.sections],
                options, output, workdir / cut.name,
            )
            for cut in cuts
        ]  # fmt: skip
    results: dict[str, dict[str, CompileResult]] = {cut.key: {} for cut in cuts}
    for aspect in output.renditions or [""]:
        update: dict[str, Any] = {"poster": False, **({"aspect": aspect} if aspect else {})}
        made = compile_cuts(
            sections,
            {cut.key: cut.sections for cut in cuts},
            {cut.key: files[cut.key][aspect] for cut in cuts},
            options.model_copy(update=update),
            workdir / f"parts-{aspect.replace(':', 'x') or 'own'}",
        )
        for key, result in made.cuts.items():
            results[key][aspect] = result
    return [
        store_cut(
            store, script_id, names[cut.key], files[cut.key], results[cut.key], options,
            output, workdir / cut.name, variant=cut.key,
        )
        for cut in cuts
    ]  # fmt: skip


def _rendition_files(workdir: Path, name: str, output: Output) -> dict[str, Path]:
    """Where each rendition of the cut `name` is compiled (`""`: the clips' own aspect)."""
    from vsl_pipelines.media.renditions import rendition_name

    workdir.mkdir(parents=True, exist_ok=True)
    ext = output.format
    if output.renditions:
        return {a: workdir / f"{name}-{rendition_name(a)}.{ext}" for a in output.renditions}
    return {"": workdir / f"{name}.{ext}"}


def store_cut(
    store: MediaStore,
    script_id: str,
    name: str,
    files: dict[str, Path],
    results: dict[str, CompileResult],
    options: CompileOptions,
    output: Output,
    workdir: Path,
    *,
    variant: str = "main",
) -> StoredCut:
    """Store the compiled renditions of the cut `name` and package and store each one's
    delivery files under the script's `final/` prefix: an HLS ladder and a poster per
    rendition, named for its video (`{name}-9x16-poster.jpg`, `{name}-9x16-hls/`), and the
    caption and chapter tracks once, named for the cut (`{name}-captions.vtt`): every
    rendition's cues are timed alike, and one whose tracks would read otherwise gets its own.
    Each rendition's entry holds its `delivery`; the cut's `delivery` is the first's."""
    from vsl_pipelines.media.delivery import DeliverySpec, chapters_of, package_delivery
    from vsl_pipelines.media.renditions import rendition_checks

    prefix = final_prefix(script_id)
    stored: list[dict[str, Any]] = []
    for aspect, path in files.items():
        result = results[aspect]
        key = f"{prefix}/{path.name}"
        uri = store.put_file(key, path)
        profile = result.plan.profile
        stored.append(
            {
                "aspect": aspect or f"{profile.width}:{profile.height}",
                "key": key,
                "uri": uri,
                "width": profile.width,
                "height": profile.height,
                "duration_s": round(result.duration_s, 3),
                "size_bytes": path.stat().st_size,
            }
        )
    wanted = output.delivery
    spec = DeliverySpec(
        hls=wanted.hls,
        captions=list(wanted.captions),
        chapters=wanted.chapters,
        poster=wanted.poster or output.poster,
    )
    checks = [c.model_dump() for c in rendition_checks(results)] if output.renditions else []
    if spec.wanted:
        tracks = spec.model_copy(update={"hls": False, "poster": False})
        pictures = spec.model_copy(update={"captions": [], "chapters": False})
        folder, timeout_s = workdir / "delivery", options.timeout_s
        first_texts: list[str] = []
        shared: dict[str, Any] = {}  # the first rendition's tracks
        for number, (entry, (aspect, path)) in enumerate(zip(stored, files.items(), strict=True)):
            result = results[aspect]
            cues, chapters = result.timed_text, chapters_of(result.plan)
            texts = _track_texts(tracks, cues, chapters)
            delivery: dict[str, Any] = {}
            if number and texts == first_texts:
                delivery.update(copy.deepcopy(shared))
            elif tracks.wanted:
                stem = path.stem if number else name
                made = package_delivery(
                    path, folder, stem, tracks, cues=cues, chapters=chapters, timeout_s=timeout_s
                )
                delivery.update(_store_packaged(store, prefix, made))
            if not number:
                first_texts, shared = texts, copy.deepcopy(delivery)
            if pictures.wanted:
                made = package_delivery(path, folder, path.stem, pictures, timeout_s=timeout_s)
                delivery.update(_store_packaged(store, prefix, made))
            entry["delivery"] = delivery
        checks.append(_delivery_check(store, spec, stored))
    main = stored[0]
    return StoredCut(
        name=name,
        variant=variant,
        key=main["key"],
        uri=main["uri"],
        size_bytes=main["size_bytes"],
        result=results[next(iter(files))],
        renditions=stored if output.renditions else [],
        checks=checks,
        delivery=copy.deepcopy(main.get("delivery") or {}),
    )


def _track_texts(
    spec: DeliverySpec, cues: Sequence[CaptionCue], chapters: Sequence[Chapter]
) -> list[str]:
    """The caption and chapter tracks `spec` asks for, as their files would read."""
    from vsl_pipelines.media.delivery import srt, webvtt

    texts = [webvtt(cues) if fmt == "vtt" else srt(cues) for fmt in spec.captions]
    return texts + ([webvtt(chapters)] if spec.chapters else [])


def _store_packaged(store: MediaStore, prefix: str, packaged: DeliveryFiles) -> dict[str, Any]:
    """Store what `package_delivery` wrote under `prefix`: the keys by role (`captions` by
    format), the HLS ladder's master with its rungs."""
    delivery: dict[str, Any] = {}
    for role, path in packaged.files.items():
        key = f"{prefix}/{path.name}"
        store.put_file(key, path)
        kind, _, fmt = role.partition(".")
        if kind == "captions":
            delivery.setdefault("captions", {})[fmt] = key
        else:
            delivery[kind] = key
    if packaged.hls is not None:
        folder = packaged.hls.master.parent
        for path in packaged.hls.files:
            store.put_file(f"{prefix}/{folder.name}/{path.relative_to(folder)}", path)
        delivery["hls"] = {
            "master": f"{prefix}/{folder.name}/{packaged.hls.master.name}",
            "rungs": [rung.model_dump() for rung in packaged.hls.rungs],
            "segment_s": packaged.hls.segment_s,
            "files": len(packaged.hls.files),
        }
    return delivery


def _delivery_check(
    store: MediaStore, spec: DeliverySpec, renditions: list[dict[str, Any]]
) -> dict[str, Any]:
    """ "delivery files stored": every rendition has each file `spec` asks for, and the store
    holds it (for the HLS ladder: its master and every rung's playlist)."""
    asked = {f"captions.{fmt}" for fmt in spec.captions}
    asked |= {n for n, on in (("chapters", spec.chapters), ("poster", spec.poster)) if on}
    asked |= {"hls"} if spec.hls else set()
    found: dict[str, bool] = {}

    def held(key: Any) -> bool:
        if not isinstance(key, str):
            return False
        if key not in found:
            found[key] = store.exists(key)
        return found[key]

    missing = []
    for entry in renditions:
        delivery = entry.get("delivery") or {}
        keys: dict[str, list[Any]] = {
            f"captions.{fmt}": [key] for fmt, key in (delivery.get("captions") or {}).items()
        }
        keys |= {role: [delivery[role]] for role in ("chapters", "poster") if role in delivery}
        if "hls" in delivery:
            master = delivery["hls"].get("master")
            folder = master.rsplit("/", 1)[0] if isinstance(master, str) else ""
            rungs = [f"{folder}/{r['name']}.m3u8" for r in delivery["hls"].get("rungs") or []]
            keys["hls"] = [master, *rungs] if rungs else [None]  # a master over no rung: none
        made = {role for role, listed in keys.items() if all(held(key) for key in listed)}
        missing += [f"{entry['aspect']} {role}" for role in sorted(asked - made)]
    if missing:
        detail = f"missing {', '.join(missing)}"
    else:
        detail = ", ".join(sorted(asked))
        if len(renditions) > 1:
            detail += f" for each of {', '.join(e['aspect'] for e in renditions)}"
    return {"name": "delivery files stored", "ok": not missing, "detail": detail}
