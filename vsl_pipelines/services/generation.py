"""Generating media, one object per use case: submit what a stage still needs, collect what
came back (with the previews a reviewer hears), follow webhooks and late jobs.

Each is built once from the resources in an asset or a sensor (`defs/`), knows nothing of
Dagster, and publishes every job it changes to the status layers it holds: they are always
there (with no cache configured, publishing does nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.stages import Stage
from vsl_pipelines.generation.adhoc import AdhocDayReport, collect_adhoc_day
from vsl_pipelines.generation.collect import CollectReport, advance_to_review, collect_stage
from vsl_pipelines.generation.progress import apply_events, poll_stale_jobs
from vsl_pipelines.generation.submit import SubmitReport, submit_missing_predictions
from vsl_pipelines.job_status import JobStatusLayers
from vsl_pipelines.services.previews import render_previews
from vsl_pipelines.services.script_versions import compile_when_back_in_review
from vsl_pipelines.storage import MediaStore

if TYPE_CHECKING:  # the replicate client is imported only by what calls Replicate
    from vsl_pipelines.generation.predictions import PredictionClient

# The stages whose collection gives a voiced section what its preview needs.
PREVIEW_STAGES = (Stage.CLIP.value, Stage.NARRATION.value)


@dataclass(frozen=True)
class Submission:
    """Creates the predictions a stage still needs for a script's current takes."""

    db: Database
    client: PredictionClient
    registry: Registry
    store: MediaStore
    status: JobStatusLayers

    def submit(self, script_id: str, stage: str) -> SubmitReport:
        return submit_missing_predictions(
            self.db, self.client, self.registry, self.store, script_id, stage, self.status
        )


@dataclass
class StageCollection:
    """What collecting a stage did: the outputs stored, the previews rendered, and whether
    the script moved on to review."""

    report: CollectReport
    previews: list[str] = field(default_factory=list)
    in_review: bool = False


@dataclass(frozen=True)
class Collection:
    """Stores finished outputs: a script's stage, or a UTC day of one-off generations."""

    db: Database
    store: MediaStore
    status: JobStatusLayers

    def collect(self, script_id: str, stage: str) -> StageCollection:
        """The stage's outputs stored; then each voiced section's preview (clip and voice as
        the video will play them); then review, once every section has what it needs (a
        keyframe is never the last thing a script waits for)."""
        result = StageCollection(collect_stage(self.db, self.store, script_id, stage, self.status))
        if stage in PREVIEW_STAGES:
            result.previews = render_previews(self.db, self.store, script_id)
        if stage != Stage.KEYFRAME.value:
            result.in_review = advance_to_review(self.db, script_id)
        if result.in_review:  # every section approved already (a soundtrack edit): compile
            compile_when_back_in_review(self.db, script_id)
        return result

    def collect_day(self, day: date) -> AdhocDayReport:
        return collect_adhoc_day(self.db, self.store, day, self.status)


@dataclass(frozen=True)
class Progress:
    """Moves jobs forward: from their webhooks, and by asking Replicate about late ones."""

    db: Database
    status: JobStatusLayers
    client: PredictionClient | None = None  # None: late jobs are not polled

    def apply(self, bodies: list[str], received: Sequence[datetime]) -> set[str]:
        """Apply webhook bodies; the scripts whose jobs changed."""
        return apply_events(self.db, bodies, self.status, received=received)

    def poll_late(self, late_after_s: float) -> int:
        """Ask about jobs whose webhook is `late_after_s` late; how many changed."""
        if self.client is None:
            return 0
        return poll_stale_jobs(self.db, self.client, late_after_s, status=self.status)
