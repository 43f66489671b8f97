"""One cut of a script compiled and stored: its renditions (one video per aspect) and its
delivery files, under the script's `final/` prefix with names a person knows.

A cut is named `{script}-c{compilation}`; its files are that name with what they are:
`-9x16.mp4`, `-poster.jpg`, `-captions.vtt`, `-chapters.vtt`, `-hls/master.m3u8`. A script with
hook variants makes one cut per combination, named for it: `{script}-c{compilation}-hook-a`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsl_pipelines.domain.script import Cut, Output
from vsl_pipelines.media.options import ClipInput, CompileOptions
from vsl_pipelines.storage.base import MediaStore

if TYPE_CHECKING:  # PyAV: imported in the compile run only
    from vsl_pipelines.media.compile import CompileResult


def final_prefix(script_id: str) -> str:
    return f"scripts/{script_id}/final"


def cut_name(script_id: str, compilation_id: int) -> str:
    return f"{script_id}-c{compilation_id}"


@dataclass(frozen=True)
class StoredCut:
    """What `compile_cut` stored: the main video (the first rendition: the landing page's),
    each rendition, the checks across them and the delivery files, by key; `variant` is its
    combination of variants (`hook=a`; `main` for a script without variants)."""

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
    (once at the clips' own aspect when it names none), package its delivery files from
    the first, and store everything under the script's `final/` prefix."""
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
    """Store the compiled renditions of the cut `name` and package and store its delivery
    files from the first, under the script's `final/` prefix."""
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
    first_aspect, first_path = next(iter(files.items()))
    first = results[first_aspect]
    wanted = output.delivery
    spec = DeliverySpec(
        hls=wanted.hls,
        captions=list(wanted.captions),
        chapters=wanted.chapters,
        poster=wanted.poster or output.poster,
    )
    delivery: dict[str, Any] = {}
    if spec.wanted:
        packaged = package_delivery(
            first_path,
            workdir / "delivery",
            name,
            spec,
            cues=first.timed_text,
            chapters=chapters_of(first.plan),
            timeout_s=options.timeout_s,
        )
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
    checks = [c.model_dump() for c in rendition_checks(results)] if output.renditions else []
    asked = {f"captions.{fmt}" for fmt in spec.captions}
    asked |= {n for n, on in (("chapters", spec.chapters), ("poster", spec.poster)) if on}
    asked |= {"hls"} if spec.hls else set()
    made = {f"captions.{fmt}" for fmt in delivery.get("captions", {})}
    made |= {n for n in ("chapters", "poster", "hls") if n in delivery}
    if spec.wanted:
        missing = sorted(asked - made)
        checks.append(
            {
                "name": "delivery files stored",
                "ok": not missing,
                "detail": f"missing {', '.join(missing)}" if missing else ", ".join(sorted(made)),
            }
        )
    main = stored[0]
    return StoredCut(
        name=name,
        variant=variant,
        key=main["key"],
        uri=main["uri"],
        size_bytes=main["size_bytes"],
        result=first,
        renditions=stored if output.renditions else [],
        checks=checks,
        delivery=delivery,
    )
