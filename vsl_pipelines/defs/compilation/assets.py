"""The compiled video: every approved clip of a script, with its soundtrack, in one file."""

import dagster as dg

from vsl_pipelines.defs.metadata import poster_metadata
from vsl_pipelines.defs.partitions import scripts_partitions
from vsl_pipelines.defs.resources import DatabaseResource, MediaStoreResource
from vsl_pipelines.defs.tags import COMPILATION, FFMPEG_POOL
from vsl_pipelines.domain.script import ScriptError
from vsl_pipelines.media.errors import MediaError
from vsl_pipelines.services.compilation import CompiledVideo, Compiler, NotApproved, NotInFlight
from vsl_pipelines.services.notifications import Notifier, StudioLinks

DECODES = "decodes_with_expected_duration"
# The engine's own full-decode verification, one check each (a failed one blocks publishing).
VERIFICATION_CHECKS = {
    "every_frame_has_output_size": "every frame size",
    "audio_stream_as_planned": "audio stream",
    "audio_in_step_with_video": "audio in step",
    "parameter_sets_in_header": "parameter sets in header",
}
# Across the renditions and of the delivery files (`services.cuts`), one check each.
OUTPUT_CHECKS = {
    "renditions_at_their_sizes": "renditions at their sizes",
    "renditions_within_a_frame": "renditions within a frame",
    "renditions_audio_in_step": "renditions audio in step",
    "delivery_files_stored": "delivery files stored",
}


@dg.asset(
    deps=["clips", "soundtrack"],
    partitions_def=scripts_partitions,
    group_name="compilation",
    kinds={"ffmpeg"},
    pool=FFMPEG_POOL,
    check_specs=[
        *(
            dg.AssetCheckSpec(name, asset="compiled_video", description=f"Engine check: {check}.")
            for name, check in VERIFICATION_CHECKS.items()
        ),
        *(
            dg.AssetCheckSpec(name, asset="compiled_video", description=f"Output check: {check}.")
            for name, check in OUTPUT_CHECKS.items()
        ),
        dg.AssetCheckSpec(
            DECODES,
            asset="compiled_video",
            description="The output decodes and lasts as long as its clips.",
        ),
    ],
)
def compiled_video(
    context: dg.AssetExecutionContext, database: DatabaseResource, media_store: MediaStoreResource
) -> dg.MaterializeResult:
    """Compiles the approved clips (stream copy where they match) and the soundtrack into one
    video, as its compile request asks (format, quality, output options)."""
    store = media_store.store()
    db = database.database()
    compiler = Compiler(db, store)
    script_id = context.partition_key
    requested = context.run.tags.get(COMPILATION)
    compilation_id = int(requested) if requested else None
    summary = _compile(compiler, script_id, compilation_id)
    expected = compiler.expected_duration(script_id)
    from vsl_pipelines.media.probe import probe_media  # PyAV in the compile run only

    probe = probe_media(store.local_path(summary.key))
    # The expected length is in seconds; each section is cut to whole frames, so it may run up
    # to a frame longer (at 6 fps, a sixth of a second a section).
    frame_s = probe.duration_s / probe.frames if probe.frames else 0.0
    within = abs(probe.duration_s - expected) <= 0.25 + frame_s * summary.clips
    links = StudioLinks.from_media_url(media_store.public_base_url)
    notified = Notifier(db, links).video_ready(
        script_id, summary.compilation_id, summary.format, summary.duration_s
    )
    return dg.MaterializeResult(
        metadata={
            "video": dg.MetadataValue.url(store.public_url(summary.key)),
            "studio": dg.MetadataValue.url(links.script(script_id)),
            "download": dg.MetadataValue.url(links.download(script_id, summary.compilation_id)),
            "stored_at": summary.output,
            "size_bytes": summary.size_bytes,
            "duration_s": summary.duration_s,
            "clips": summary.clips,
            "cost_usd": summary.cost_usd,
            "compilation_id": summary.compilation_id,
            "requested_by": summary.requested_by,
            "format": summary.format,
            "quality": summary.quality,
            "plan": dg.MetadataValue.json(summary.plan),
            "renditions": dg.MetadataValue.json(summary.renditions),
            "delivery": dg.MetadataValue.json(summary.delivery),
            **({"notification": notified.describe()} if notified else {}),
            **poster_metadata(store, summary.poster_key),
        },
        check_results=[
            *verification_results(summary.verification),
            *output_results(summary.checks),
            dg.AssetCheckResult(
                check_name=DECODES,
                passed=within,
                metadata={"expected_s": round(expected, 3), "actual_s": round(probe.duration_s, 3)},
            ),
        ],
    )


def _compile(compiler: Compiler, script_id: str, compilation_id: int | None) -> CompiledVideo:
    """The compile, or a `dg.Failure` whose description is its precise reason (the run's
    failure message in the UI, not a stack trace). A refusal (a section not approved, the
    request already finished) is not retried: it would be refused again."""
    about = {"script_id": script_id, "compilation_id": compilation_id or "(none: the script's)"}
    try:
        return compiler.compile(script_id, compilation_id)
    except NotApproved as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={**about, "sections_without_approval": ", ".join(exc.missing)},
            allow_retries=False,
        ) from None
    except (NotInFlight, ScriptError) as exc:
        raise dg.Failure(description=str(exc), metadata=about, allow_retries=False) from None
    except MediaError as exc:
        raise dg.Failure(
            description=f"compiling {script_id!r} failed: {exc}",
            metadata={**about, "error": type(exc).__name__},
        ) from exc


def verification_results(verification: dict | None) -> list[dg.AssetCheckResult]:
    """The engine's decode checks as asset check results (absent check: nothing to verify)."""
    checks = {c["name"]: c for c in (verification or {}).get("checks", [])}
    results = []
    for name, engine_name in VERIFICATION_CHECKS.items():
        check = checks.get(engine_name)
        advisory = check is not None and not check.get("blocking", True)
        results.append(
            dg.AssetCheckResult(
                check_name=name,
                passed=True if check is None else bool(check["ok"]),
                severity=dg.AssetCheckSeverity.WARN if advisory else dg.AssetCheckSeverity.ERROR,
                metadata={"detail": check["detail"] if check else "not applicable"},
            )
        )
    return results


def output_results(checks: list[dict]) -> list[dg.AssetCheckResult]:
    """The checks across renditions and of the delivery files (absent: none asked for)."""
    found = {c["name"]: c for c in checks}
    return [
        dg.AssetCheckResult(
            check_name=name,
            passed=True if name_in_engine not in found else bool(found[name_in_engine]["ok"]),
            metadata={
                "detail": found[name_in_engine]["detail"]
                if name_in_engine in found
                else "not applicable"
            },
        )
        for name, name_in_engine in OUTPUT_CHECKS.items()
    ]
