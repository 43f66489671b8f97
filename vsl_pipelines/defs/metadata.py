"""Turning reports into metadata the Dagster UI shows: counts, cost, locations, thumbnails."""

import base64
from typing import Any

import dagster as dg

from vsl_pipelines.storage.base import MediaStore

_MAX_INLINE_THUMBNAILS = 12


def thumbnails_markdown(store: MediaStore, takes: list[dict[str, Any]]) -> dg.MetadataValue:
    """A markdown table of takes with their thumbnails inlined (the UI renders data URIs)."""
    lines = ["| section | take | duration | file | preview |", "|---|---|---|---|---|"]
    for take in takes:
        preview = ""
        if take.get("thumbnail") and len(lines) - 2 < _MAX_INLINE_THUMBNAILS:
            try:
                data = store.local_path(take["thumbnail"]).read_bytes()
                preview = f"![thumb](data:image/jpeg;base64,{base64.b64encode(data).decode()})"
            except OSError:
                preview = "(thumbnail missing)"
        duration = f"{take['duration_s']:.2f} s" if take.get("duration_s") else ""
        lines.append(
            f"| {take['section'] or '-'} | {take['take']} | {duration} | "
            f"`{take['key']}` | {preview} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


def poster_metadata(store: MediaStore, poster_key: str | None) -> dict[str, dg.MetadataValue]:
    """The compiled video's poster frame, inlined so the UI shows it."""
    if not poster_key:
        return {}
    data = store.local_path(poster_key).read_bytes()
    image = f"![poster](data:image/jpeg;base64,{base64.b64encode(data).decode()})"
    return {"poster": dg.MetadataValue.md(image), "poster_file": dg.MetadataValue.path(poster_key)}
