"""What the studio's pages show, gathered from the tables and services: the scripts list with
progress and spend, and one script's sections (current take, history, generation status),
its compilations and whether the page should keep polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vsl_pipelines.db import approvals as approval_rows
from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.storage.base import MediaStore
from vsl_pipelines.web.review.views import section_prompt

STATUSES = ("queued", "generating", "review", "compiling", "compiled", "failed")
ACTIVE_JOBS = ("creating", "starting", "processing")


@dataclass(frozen=True)
class ScriptSummary:
    id: str
    title: str
    status: str
    error: str | None
    sections: int
    keyframes: tuple[int, int]  # (done, wanted) for the current takes
    clips: tuple[int, int]
    spent_usd: float
    budget_usd: float | None
    updated_at: datetime


def script_list(conn: Conn, status: str | None) -> list[ScriptSummary]:
    return [
        ScriptSummary(
            id=row["id"],
            title=row["title"],
            status=row["status"],
            error=row["error"],
            sections=row["sections"],
            keyframes=(row["keyframes_done"], row["keyframes"]),
            clips=(row["clips_done"], row["sections"]),
            spent_usd=float(row["spent_usd"]),
            budget_usd=float(row["budget_usd"]) if row["budget_usd"] is not None else None,
            updated_at=row["updated_at"],
        )
        for row in script_rows.script_summaries(conn)
        if status is None or row["status"] == status
    ]


@dataclass(frozen=True)
class Take:
    """One take of a section: its media, what made it and what the reviewer said."""

    number: int
    clip_url: str | None
    poster_url: str | None
    keyframe_url: str | None
    duration_s: float | None
    prompt: str | None
    seed: int | None
    decision: str | None
    note: str | None


@dataclass(frozen=True)
class JobLine:
    stage: str
    status: str
    attempt: int
    model: str
    error: str | None


@dataclass(frozen=True)
class SectionView:
    id: str
    narration: str
    current: Take
    history: list[Take]
    jobs: list[JobLine]

    @property
    def waiting(self) -> bool:
        """Its current take has a clip and no decision: the reviewer's turn."""
        return self.current.clip_url is not None and self.current.decision is None


@dataclass(frozen=True)
class CompilationView:
    id: int
    status: str
    video_url: str | None
    poster_url: str | None
    duration_s: float | None
    output_format: str
    quality: str
    options: dict[str, Any]
    error: str | None
    created_at: datetime


@dataclass
class ScriptPage:
    id: str
    title: str
    status: str
    error: str | None
    budget_usd: float | None
    spent_usd: float
    output: dict[str, Any]
    sections: list[SectionView] = field(default_factory=list)
    compilations: list[CompilationView] = field(default_factory=list)

    @property
    def all_approved(self) -> bool:
        return all(s.current.decision == "approved" for s in self.sections)

    @property
    def compile_in_flight(self) -> bool:
        return any(c.status in ("requested", "running") for c in self.compilations)

    @property
    def busy(self) -> bool:
        """Something will change without the user: generation, a retake, a compile."""
        if self.status == "failed":
            return False
        if self.status in ("queued", "generating", "compiling") or self.compile_in_flight:
            return True
        if any(
            s.current.decision == "rejected" or s.current.clip_url is None for s in self.sections
        ):
            return True
        # Everything approved: the automatic compile request is a sensor tick away.
        return self.all_approved and not self.compilations


def script_page(conn: Conn, store: MediaStore, script_id: str) -> ScriptPage:
    """One script as its page shows it (ScriptNotFound for an unknown id)."""
    row = script_rows.script_row(conn, script_id)
    script = script_rows.load_stored_script(conn, script_id)
    jobs = job_rows.all_jobs(conn, script_id)
    takes = {
        (t["section_id"], t["stage"], t["take"]): t for t in take_rows.takes_of(conn, script_id)
    }
    decisions = approval_rows.latest_decisions(conn, script_id)
    page = ScriptPage(
        id=script_id,
        title=row["title"],
        status=row["status"],
        error=row["error"],
        budget_usd=float(row["budget_usd"]) if row["budget_usd"] is not None else None,
        spent_usd=round(job_rows.committed_cost_usd(jobs), 4),
        output=script.output.model_dump(exclude_none=True),
    )
    for section in script_rows.sections_of(conn, script_id):
        sid = section["id"]
        first_prompt = section_prompt(section["spec"])

        def take(number: int, sid: str = sid, first_prompt: str | None = first_prompt) -> Take:
            clip = takes.get((sid, "clip", number))
            keyframe = takes.get((sid, "keyframe", number))
            decision = decisions.get((sid, number), {})
            earlier = decisions.get((sid, number - 1), {})  # the rejection that asked for it
            return Take(
                number=number,
                clip_url=store.public_url(clip["media_key"]) if clip else None,
                poster_url=store.public_url(clip["thumbnail_key"])
                if clip and clip["thumbnail_key"]
                else None,
                keyframe_url=store.public_url(keyframe["media_key"]) if keyframe else None,
                duration_s=clip["duration_s"] if clip else None,
                prompt=earlier.get("prompt") or first_prompt,
                seed=earlier.get("seed"),
                decision=decision.get("decision"),
                note=decision.get("note"),
            )

        current = section["current_take"]
        latest: dict[str, dict[str, Any]] = {}
        for job in jobs:
            if job["section_id"] == sid and job["take"] == current:
                latest[job["stage"]] = job
        page.sections.append(
            SectionView(
                id=sid,
                narration=section["narration"],
                current=take(current),
                history=[take(n) for n in range(current - 1, 0, -1)],
                jobs=[
                    JobLine(j["stage"], j["status"], j["attempt"], j["model_id"], j["error"])
                    for j in latest.values()
                ],
            )
        )
    for compilation in compilation_rows.compilations_of(conn, script_id):
        key = compilation["output_key"] if compilation["status"] == "succeeded" else None
        poster = key.rsplit(".", 1)[0] + ".poster.jpg" if key and script.output.poster else None
        page.compilations.append(
            CompilationView(
                id=compilation["id"],
                status=compilation["status"],
                video_url=store.public_url(key) if key else None,
                poster_url=store.public_url(poster) if poster else None,
                duration_s=compilation["duration_s"],
                output_format=compilation["output_format"],
                quality=compilation["quality"],
                options=compilation["options"] or {},
                error=compilation["error"],
                created_at=compilation["created_at"],
            )
        )
    return page
