"""The compiled video: every approved clip of a script, with its soundtrack, in one file."""

import dagster as dg

from vsl_pipelines.defs.metadata import poster_metadata
from vsl_pipelines.defs.partitions import scripts_partitions
from vsl_pipelines.defs.resources import DatabaseResource, MediaStoreResource
from vsl_pipelines.defs.tags import COMPILATION, FFMPEG_POOL
from vsl_pipelines.services.compilation import Compiler

DECODES = "decodes_with_expected_duration"
# The engine's own full-decode verification, one check each (a failed one blocks publishing).
VERIFICATION_CHECKS = {
    "every_frame_has_output_size": "every frame size",
    "audio_stream_as_planned": "audio stream",
    "audio_in_step_with_video": "audio in step",
    "parameter_sets_in_header": "parameter sets in header",
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
    compiler = Compiler(database.database(), store)
    requested = context.run.tags.get(COMPILATION)
    summary = compiler.compile(context.partition_key, int(requested) if requested else None)
    expected = compiler.expected_duration(context.partition_key)
    from vsl_pipelines.media.probe import probe_media  # PyAV in the compile run only

    probe = probe_media(store.local_path(summary.key))
    within = abs(probe.duration_s - expected) <= 0.25
    return dg.MaterializeResult(
        metadata={
            "output": dg.MetadataValue.path(summary.output),
            "size_bytes": summary.size_bytes,
            "duration_s": summary.duration_s,
            "clips": summary.clips,
            "cost_usd": summary.cost_usd,
            "compilation_id": summary.compilation_id,
            "format": summary.format,
            "quality": summary.quality,
            "plan": dg.MetadataValue.json(summary.plan),
            **poster_metadata(store, summary.poster_key),
        },
        check_results=[
            *verification_results(summary.verification),
            dg.AssetCheckResult(
                check_name=DECODES,
                passed=within,
                metadata={"expected_s": round(expected, 3), "actual_s": round(probe.duration_s, 3)},
            ),
        ],
    )


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
