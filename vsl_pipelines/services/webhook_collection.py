"""Collecting a final output in the service that accepted its webhook, right after the inbox
stored it: the job's status, its stored output, and for a take what follows (stills, previews,
review), without waiting for a sensor tick, a run queue and a run's process.

The inbox row stays the record: the webhook sensor applies it again (changing nothing), records
each output collected here as a materialization of its asset partition, and the collecting runs
take over whatever this did not finish (the process died, the queue was full, the claim
lapsed). A bounded queue and a few threads: the route never waits for a collection.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.stages import Stage
from vsl_pipelines.domain.status_order import TERMINAL
from vsl_pipelines.generation.at_webhook import StepHook, release_claim, store_claimed_output
from vsl_pipelines.generation.collect import advance_to_review, render_missing_stills
from vsl_pipelines.generation.progress import apply_final_event
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.notifications import Notifier, StudioLinks
from vsl_pipelines.services.previews import render_previews
from vsl_pipelines.services.script_versions import compile_when_back_in_review
from vsl_pipelines.storage.base import MediaStore

log = get_logger(__name__)

# How long the service holds a job it collects: past it, a process that died mid-way has its
# job collected by the runs. Longer than a large clip's download, short next to the hour
# Replicate keeps an output.
CLAIM_S = 120.0
WORKERS = 2  # downloads wait on the network; probing and thumbnails are short (and one
# thread more follows takes up: stills, previews, review)
QUEUE_SIZE = 256  # past it the runs collect (the route never waits)
# Final webhooks a second one process takes on (a burst of up to as many at once): what people
# wait for one at a time. Past it the runs collect, in batches, and the route keeps its whole
# throughput for storing webhooks (a burst of thousands a second was stored at half the rate
# when each was also applied here).
RATE_PER_S = 20.0
DECLINED_LOG_S = 60.0  # a line at most this often while webhooks are left to the runs


@dataclass
class WebhookCollector:
    """Collects final webhooks' outputs on its own threads; `offer` never blocks."""

    db: Database
    store: MediaStore
    status: JobStatusLayers
    links: StudioLinks  # the studio's links in a notification that decisions wait
    claim_for_s: float = CLAIM_S
    workers: int = WORKERS
    queue_size: int = QUEUE_SIZE
    rate_per_s: float = RATE_PER_S
    on_step: StepHook | None = None  # tests stop the process at a step
    _queue: queue.Queue[tuple[str, datetime]] = field(init=False, repr=False)
    _follow_ups: queue.Queue[_Take] = field(init=False, repr=False)
    _threads: list[threading.Thread] = field(init=False, default_factory=list, repr=False)
    _tokens: float = field(init=False, default=0.0, repr=False)
    _refilled: float = field(init=False, default=0.0, repr=False)
    _declined: int = field(init=False, default=0, repr=False)
    _declined_logged: float = field(init=False, default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._queue = queue.Queue(self.queue_size)
        self._follow_ups = queue.Queue()
        self._tokens = self.rate_per_s
        self._refilled = time.monotonic()

    @staticmethod
    def wants(status: str | None) -> bool:
        """A final status: the webhook whose event ends the job."""
        return status in TERMINAL

    def start(self) -> None:
        """Start the threads (and their imports) now rather than at the first webhook."""
        self._start()

    def offer(self, body: str) -> bool:
        """Queue a stored webhook's body; False when past the rate or the queue is full (the
        runs collect it). Called from the service's event loop only."""
        self._start()
        if not self._take_token():
            return self._decline("past the collector's rate")
        try:
            self._queue.put_nowait((body, datetime.now(UTC)))
        except queue.Full:
            return self._decline("the collector's queue is full")
        return True

    def _take_token(self) -> bool:
        now = time.monotonic()
        elapsed, self._refilled = now - self._refilled, now
        self._tokens = min(self.rate_per_s, self._tokens + elapsed * self.rate_per_s)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _decline(self, why: str) -> bool:
        self._declined += 1
        now = time.monotonic()
        if now - self._declined_logged >= DECLINED_LOG_S:
            log.warning(
                "final webhooks left to the collecting runs",
                extra={"fields": {"reason": why, "declined": self._declined}},
            )
            self._declined, self._declined_logged = 0, now
        return False

    def collect(self, body: str, received_at: datetime | None = None) -> None:
        """Apply the webhook and, when it made the job succeed, store its output; then, for a
        take, what follows it. Never raises: whatever fails is left to the runs."""
        take = self._collect_output(body, received_at)
        if take is not None:
            self._finish_take(take)

    def _collect_output(self, body: str, received_at: datetime | None) -> _Take | None:
        """The job's output stored and its document published; a take still claimed for what
        follows it (else None, the claim released)."""
        try:
            prediction = json.loads(body)
            if not isinstance(prediction, dict) or "id" not in prediction:
                return None
            moved = apply_final_event(
                self.db, prediction, self.status, received_at or datetime.now(UTC), self.claim_for_s
            )
            if moved is None or prediction.get("status") != "succeeded":
                return None
            take = None
            try:
                job = store_claimed_output(self.db, self.store, moved.id, self.on_step)
                # Its one document from here: completed (or, left to the runs, processing).
                self.status.publish([moved.id])
                if job is not None and job.script_id is not None:
                    take = _Take(job.id, job.script_id, job.stage)
            finally:
                if take is None:
                    release_claim(self.db, moved.id)
            return take
        except Exception:
            log.exception("webhook collection failed; left to the collecting runs")
            return None

    def _finish_take(self, take: _Take) -> None:
        try:
            self._follow_up(take.script_id, take.stage)
        except Exception:
            log.exception(
                "following a take up failed; left to the collecting runs",
                extra={"script_id": take.script_id, "job_id": take.job_id},
            )
        finally:
            release_claim(self.db, take.job_id)

    def _follow_up(self, script_id: str, stage: str) -> None:
        """What a collecting run does after storing a take: a still section's clip from its
        keyframe, voiced sections' previews, and the script to review once it is complete."""
        if stage == Stage.KEYFRAME.value:
            render_missing_stills(self.db, self.store, script_id)
        render_previews(self.db, self.store, script_id)
        if advance_to_review(self.db, script_id):
            compile_when_back_in_review(self.db, script_id)  # every section approved already
            Notifier(self.db, self.links).decisions_waiting(script_id)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Until every queued webhook is collected and followed up (tests, benchmarks); False
        on timeout."""
        done = threading.Event()

        def join() -> None:
            self._queue.join()
            self._follow_ups.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout_s)

    def _start(self) -> None:
        if self._threads:
            return
        with _START_LOCK:
            if self._threads:
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"vsl-collector-{n}", daemon=True)
                for n in range(self.workers)
            ]
            # Stills and previews take seconds of FFmpeg: on a thread of their own, so that a
            # take's follow-up never holds the next webhook's collection back (the sensor would
            # apply that one first, and leave it to a run).
            self._threads.append(
                threading.Thread(target=self._follow_up_work, name="vsl-follow-up", daemon=True)
            )
            for thread in self._threads:
                thread.start()

    def _work(self) -> None:
        # What collecting imports, loaded before the first webhook rather than during it (a
        # still section's first take reached review in 4.1 s, the next ones in 1.5-1.7 s).
        import httpx  # noqa: F401

        import vsl_pipelines.media.probe
        import vsl_pipelines.media.stills
        import vsl_pipelines.media.thumbnails  # noqa: F401

        while True:
            body, received_at = self._queue.get()
            try:
                take = self._collect_output(body, received_at)
                if take is not None:
                    self._follow_ups.put(take)
            finally:
                self._queue.task_done()

    def _follow_up_work(self) -> None:
        while True:
            take = self._follow_ups.get()
            try:
                self._finish_take(take)
            finally:
                self._follow_ups.task_done()


@dataclass(frozen=True)
class _Take:
    """A take stored at its webhook, its job still claimed until what follows it is done."""

    job_id: int
    script_id: str
    stage: str


_START_LOCK = threading.Lock()
