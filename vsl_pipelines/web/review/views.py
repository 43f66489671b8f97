"""What the review page shows, gathered from the services and tables: each waiting take with its
script's title, the prompt and seed it was made from, the note on the take before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.services.review import review_queue
from vsl_pipelines.storage.base import MediaStore


@dataclass(frozen=True)
class WaitingTake:
    """A section's current take with a clip and no decision, with what the reviewer needs."""

    script_id: str
    title: str
    section_id: str
    take: int
    narration: str
    prompt: str | None
    seed: int | None
    clip_url: str
    poster_url: str | None
    duration_s: float | None
    previous_note: str | None = None


@dataclass(frozen=True)
class ReviewPage:
    """The page: the takes waiting (of one script when `view_script`), a notice of the last
    decision."""

    takes: list[WaitingTake]
    view_script: str | None
    notice: str | None

    @property
    def heading(self) -> str:
        return f"Script {self.view_script}" if self.view_script else "All scripts"


def review_page(
    conn: Conn, store: MediaStore, view_script: str | None, done: str | None
) -> ReviewPage:
    """The page for `?script=` and `?done=` (ScriptNotFound for an unknown script)."""
    return ReviewPage(waiting_takes(conn, store, view_script), view_script, done_notice(done))


def waiting_takes(conn: Conn, store: MediaStore, script_id: str | None = None) -> list[WaitingTake]:
    """`review_queue` plus each script's title, the take's prompt and seed, the previous note."""
    queue = review_queue(conn, script_id)
    titles = {r["id"]: r["title"] for r in script_rows.list_scripts(conn)}
    queued_scripts = list(dict.fromkeys(item["script"] for item in queue))
    sections = {
        (sid, s["id"]): s for sid in queued_scripts for s in script_rows.sections_of(conn, sid)
    }
    decisions = {
        (sid, section_id, take): row
        for sid in queued_scripts
        for (section_id, take), row in approval_rows.latest_decisions(conn, sid).items()
    }
    takes = []
    for item in queue:
        section = sections[(item["script"], item["section"])]
        overrides = section["overrides"] or {}
        previous = decisions.get((item["script"], item["section"], item["take"] - 1), {})
        takes.append(
            WaitingTake(
                script_id=item["script"],
                title=titles.get(item["script"], ""),
                section_id=item["section"],
                take=item["take"],
                narration=item["narration"],
                prompt=overrides.get("prompt") or section_prompt(section["spec"]),
                seed=overrides.get("seed"),
                clip_url=store.public_url(item["clip"]),
                poster_url=store.public_url(item["thumbnail"]) if item["thumbnail"] else None,
                duration_s=item["duration_s"],
                previous_note=previous.get("note"),
            )
        )
    return takes


def section_prompt(spec: dict[str, Any]) -> str | None:
    """The prompt a section's picture starts from: its keyframe's, else its clip's."""
    for stage in ("keyframe", "clip"):
        generation = spec.get(stage) or {}
        if generation.get("prompt"):
            return str(generation["prompt"])
    return None


def done_notice(done: str | None) -> str | None:
    """`?done=approved:SCRIPT/SECTION` (set by the redirect after a decision) as a notice."""
    decision, _, target = (done or "").partition(":")
    if decision == "approved" and target:
        return f"Approved {target}."
    if decision == "rejected" and target:
        return f"Rejected {target}; a new take will be generated."
    return None
