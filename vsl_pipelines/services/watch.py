"""The landing-page player's use cases: a cut as the page plays it (its files, captions, CTA and
end action), the signature its event posts carry, recording an event, the split link's choice
of a cut, and the "which hook wins" report of a script.

A cut is a compilation plus a variant combination key (`main` until hook variants exist);
events and the report name cuts, so variants add cuts without changing either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.watch import CutRow
from vsl_pipelines.domain.script import Output
from vsl_pipelines.domain.variant_report import (
    DEFAULT_METRIC,
    ArmCounts,
    Metric,
    VariantReport,
    variant_report,
)
from vsl_pipelines.services.cuts import final_prefix

PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{16}")  # `db.watch.new_public_id`'s spelling
VIEWER_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
SIGNATURE_SALT = b"vsl watch events\x00"


class EventSigner:
    """HMAC-SHA256 of a cut's public id under a key derived from the service's secret: the
    watch page is served with its cut's signature and every event it posts carries it, so an
    event names only a cut whose page was served (a post for any other id is refused)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, SIGNATURE_SALT, hashlib.sha256).digest()

    def signature(self, cut: str) -> str:
        digest = hmac.new(self._key, cut.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def valid(self, cut: str, signature: str) -> bool:
        return hmac.compare_digest(self.signature(cut), signature)


@dataclass(frozen=True)
class WatchRendition:
    """One video of a cut at one aspect, as the page may play it: files named relative to the
    script's `final/` prefix; its size when the plan records it (a cut without renditions:
    its one video, sizes unknown)."""

    aspect: str | None
    width: int | None
    height: int | None
    video: str  # the MP4 (or other container) a browser without HLS plays
    hls: str | None
    captions: str | None  # WebVTT
    chapters: str | None
    poster: str | None


@dataclass(frozen=True)
class WatchCut:
    """What the watch page plays: each rendition of the cut (the page picks the one that fits
    the viewer's screen), the first also as the cut's own fields (`video`, `hls`, ...)."""

    public_id: str
    script_id: str
    title: str
    variant: str
    video: str
    hls: str | None
    captions: str | None
    chapters: str | None
    poster: str | None
    output: Output
    renditions: tuple[WatchRendition, ...] = ()
    files: frozenset[str] = field(default_factory=frozenset)  # every name served, but HLS's
    hls_folders: frozenset[str] = field(default_factory=frozenset)  # all their files served

    def serves(self, name: str) -> bool:
        """Whether `name` (relative to the final prefix) is one of this cut's files."""
        if name in self.files:
            return True
        folder, slash, _ = name.rpartition("/")
        return bool(slash) and folder in self.hls_folders


def _relative(prefix: str, key: Any) -> str | None:
    if not isinstance(key, str) or not key.startswith(f"{prefix}/"):
        return None
    return key[len(prefix) + 1 :]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _rendition(
    prefix: str, key: Any, delivery: Any, entry: dict[str, Any] | None = None
) -> WatchRendition | None:
    """A rendition from its video's key and its delivery files' keys (None: not under the
    prefix, as a plan this version does not read)."""
    video = _relative(prefix, key)
    if video is None:
        return None
    delivery = delivery if isinstance(delivery, dict) else {}
    entry = entry or {}
    hls, captions = delivery.get("hls"), delivery.get("captions")
    return WatchRendition(
        aspect=entry["aspect"] if isinstance(entry.get("aspect"), str) else None,
        width=_int(entry.get("width")),
        height=_int(entry.get("height")),
        video=video,
        hls=_relative(prefix, hls.get("master")) if isinstance(hls, dict) else None,
        captions=_relative(prefix, captions.get("vtt")) if isinstance(captions, dict) else None,
        chapters=_relative(prefix, delivery.get("chapters")),
        poster=_relative(prefix, delivery.get("poster")),
    )


def _renditions(prefix: str, plan: dict[str, Any], cut: CutRow) -> list[WatchRendition]:
    """The cut's renditions from its compilation's plan: each with its own delivery files
    (`renditions[i].delivery`); in a plan from before those, the first with the cut's delivery
    and the others with its caption and chapter tracks, played from their MP4s."""
    delivery, output_key, listed = plan.get("delivery"), cut.output_key, plan.get("renditions")
    for variant in plan.get("cuts") or []:  # hook variants: a cut's own files
        if isinstance(variant, dict) and variant.get("variant") == cut.variant:
            delivery, output_key = variant.get("delivery"), variant.get("key")
            listed = variant.get("renditions")
    delivery = delivery if isinstance(delivery, dict) else {}
    tracks = {k: delivery[k] for k in ("captions", "chapters") if k in delivery}
    found = []
    for number, entry in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(entry, dict):
            continue
        own = entry.get("delivery")
        if not isinstance(own, dict):
            own = delivery if number == 0 else tracks
        made = _rendition(prefix, entry.get("key"), own, entry)
        if made is not None:
            found.append(made)
    if not found:  # one video, no renditions: the cut's own
        only = _rendition(prefix, output_key, delivery)
        found = [only] if only is not None else []
    return found


def watch_cut(db: Database, public_id: str) -> WatchCut | None:
    """The cut `public_id` as its page plays it; None when there is no such published cut."""
    if not PUBLIC_ID.fullmatch(public_id):
        return None
    with db.connect() as conn:
        cut = watch_rows.cut_by_public_id(conn, public_id)
        if cut is None or cut.status != "succeeded" or not cut.output_key:
            return None
        try:
            script = script_rows.load_stored_script(conn, cut.script_id)
            output, title = script.output, script.title
        except ValidationError:  # a stored document this version no longer reads: plainly
            output, title = Output(), cut.script_id
    renditions = _renditions(final_prefix(cut.script_id), cut.plan or {}, cut)
    if not renditions:
        return None
    first = renditions[0]
    return WatchCut(
        public_id=cut.public_id,
        script_id=cut.script_id,
        title=title,
        variant=cut.variant,
        video=first.video,
        hls=first.hls,
        captions=first.captions,
        chapters=first.chapters,
        poster=first.poster,
        output=output,
        renditions=tuple(renditions),
        files=frozenset(
            name for r in renditions for name in (r.video, r.captions, r.chapters, r.poster) if name
        ),
        hls_folders=frozenset(
            r.hls.rsplit("/", 1)[0] for r in renditions if r.hls and "/" in r.hls
        ),
    )


def latest_cuts(db: Database, script_id: str) -> list[CutRow]:
    """The cuts of the script's newest published compilation (its `main` cut made on first
    ask); none before a compile succeeded."""
    with db.connect() as conn:
        latest = compilation_rows.latest_compilation(conn, script_id, succeeded=True)
        if latest is None:
            return []
        cuts = watch_rows.cuts_of_compilation(conn, latest.id)
        return cuts or [watch_rows.ensure_cut(conn, latest.id)]


@dataclass(frozen=True)
class Publication:
    """What the studio shows beside the final video: the cut, the split link."""

    cut: str
    split_link: str
    cuts: list[str]


def publication(db: Database, script_id: str) -> Publication | None:
    cuts = latest_cuts(db, script_id)
    if not cuts:
        return None
    with db.connect() as conn:
        link = watch_rows.split_link(conn, script_id)
    return Publication(cuts[0].public_id, link, [c.public_id for c in cuts])


def assign_cut(db: Database, link: str, sticky: str | None, rng: random.Random) -> str | None:
    """The cut a viewer of split link `link` watches: the one they were given before
    (`sticky`, from their cookie) while it is among the script's latest cuts, else one chosen
    uniformly among them. None for an unknown link or a script with no published cut."""
    if not PUBLIC_ID.fullmatch(link):
        return None
    with db.connect() as conn:
        script_id = watch_rows.script_of_split_link(conn, link)
    if script_id is None:
        return None
    cuts = [c.public_id for c in latest_cuts(db, script_id)]
    if not cuts:
        return None
    return sticky if sticky in cuts else rng.choice(cuts)


class EventRefused(ValueError):
    """An event post that is not recorded: `status` is the HTTP answer (403 forged)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def record_event(
    db: Database, signer: EventSigner, cut: str, signature: str, viewer: str, kind: str
) -> bool:
    """Keep one event of `viewer` on `cut` (True when new; a repeat changes nothing).
    EventRefused(403) for a signature that is not the cut's, (404) for a cut gone since."""
    if not PUBLIC_ID.fullmatch(cut) or not signer.valid(cut, signature):
        raise EventRefused(403, "the event's signature is not valid for this cut")
    with db.connect() as conn:
        row = watch_rows.cut_by_public_id(conn, cut)
        if row is None:
            raise EventRefused(404, "no such cut")
        return watch_rows.record_event(conn, row.id, viewer, kind)


def script_report(
    db: Database, script_id: str, *, min_viewers: int, metric: Metric = DEFAULT_METRIC
) -> VariantReport:
    """The variant report over every cut of the script (its latest cut made if none yet)."""
    latest_cuts(db, script_id)
    with db.connect() as conn:
        rows = watch_rows.counts_of_script(conn, script_id)
    arms: dict[int, ArmCounts] = {}
    for row in rows:
        arm = arms.setdefault(
            row.cut_id, ArmCounts(row.public_id, row.compilation_id, row.variant, {})
        )
        if row.kind is not None:
            arm.counts[row.kind] = row.viewers
    return variant_report(list(arms.values()), min_viewers=min_viewers, metric=metric)


def report_document(report: VariantReport) -> dict[str, Any]:
    """The report as `GET /api/scripts/{id}/variants` answers it and the asset records it."""
    return {
        "metric": report.metric,
        "minViewers": report.min_viewers,
        "leader": report.leader,
        "reason": report.reason,
        "cuts": [
            {
                "cut": arm.cut,
                "compilationId": arm.compilation_id,
                "variant": arm.variant,
                "viewers": arm.viewers,
                "plays": arm.plays,
                "unmutes": arm.unmutes,
                "ctaClicks": arm.ctas,
                "playRate": arm.rates["play"][2],
                "retention": {q: arm.rates[q][2] for q in ("q25", "q50", "q75", "q100")},
                "ctaRate": arm.rates["cta"][2],
                "pBest": arm.p_best,
            }
            for arm in report.arms
        ],
    }


def scripts_with_events(db: Database, since: datetime) -> list[str]:
    """The scripts whose player had events at or after `since` (the daily report's)."""
    with db.connect() as conn:
        return watch_rows.scripts_with_events_since(conn, since)
