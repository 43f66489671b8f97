"""`GET /api/scripts/{id}/variants`: which hook wins. Per cut (a compilation and its variant),
the landing-page player's viewers, play rate, retention at 25/50/75/100%, CTA rate and the
probability that it is the best (`domain.variant_report`); the numbers of the daily
`variant_report` asset and of the studio's report page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from vsl_pipelines.domain.variant_report import DEFAULT_METRIC, Metric
from vsl_pipelines.services.watch import report_document, script_report
from vsl_pipelines.web.access import OwnScript, Viewer
from vsl_pipelines.web.deps import ConfigDep

router = APIRouter()


class Retention(BaseModel):
    q25: float | None
    q50: float | None
    q75: float | None
    q100: float | None


class CutFigures(BaseModel):
    cut: str = Field(description="the cut's public id (its page is /watch/{cut})")
    compilationId: int
    variant: str = Field(description="the variant combination key; `main` without variants")
    viewers: int
    plays: int
    unmutes: int
    ctaClicks: int
    playRate: float | None = Field(description="plays / viewers")
    retention: Retention = Field(description="viewers reaching each quartile / plays")
    ctaRate: float | None = Field(description="CTA clicks / viewers")
    pBest: float = Field(description="P(this cut is best on the report's metric)")


class VariantsReport(BaseModel):
    metric: Metric = Field(description="the metric P(best) and the leader are on")
    minViewers: int = Field(description="viewers every cut needs before a leader is named")
    leader: str | None = Field(description="the leading cut, once one is named")
    reason: str
    cuts: list[CutFigures]


@router.get("/scripts/{script_id}/variants")
def variants(
    script_id: OwnScript,
    actor: Viewer,
    config: ConfigDep,
    metric: Annotated[Metric, Query()] = DEFAULT_METRIC,
) -> VariantsReport:
    """The variant report of the script's cuts; P(best) and the leader on `metric` (`play`,
    `q25`..`q100`, default `cta`)."""
    report = script_report(
        config.db, script_id, min_viewers=config.variant_min_viewers, metric=metric
    )
    return VariantsReport.model_validate(report_document(report))
