"""The cost dashboard's charts: SVG drawn on the server by pygal and put inline in the page.

Nothing is fetched and nothing runs in the browser: pygal's scripts (its tooltips, from a CDN
by default) are left out, and its one inline script (its configuration, which the studio's
Content-Security-Policy would refuse anyway) is removed. Each point keeps pygal's
`<desc class="value">` and `<desc class="x_label">`, gets a `<title>` (the browser's own
tooltip) and each series its name (`data-series`), so what a chart shows can be read back.
The charts scale to their box (a viewBox, no fixed size) up to their drawn width, which is small
enough that their text stays readable on a phone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.variant_report import VariantReport
from vsl_pipelines.services.cost_dashboard import CostDashboard, GroupSpend, ModelSpend

WIDTH = 480  # px at 100%: the charts are never drawn wider, so their text never grows
BAR_HEIGHT = 34  # px per bar of a horizontal bar chart
LABEL_CHARS = 20  # a bar's label on the axis, at most (its point and the table keep it whole)
SPEND = "#1d4ed8"
BUDGET = "#b91c1c"
PROJECTION = "#a16207"
ACTUAL = "#15803d"


def studio_style(*colors: str) -> Style:
    """pygal's style in the studio's colours and type, its series in `colors`."""
    return Style(
        background="transparent",
        plot_background="#ffffff",
        foreground="#1c1917",
        foreground_strong="#44403c",
        foreground_subtle="#57534e",
        font_family="system-ui, sans-serif",
        label_font_size=16,
        major_label_font_size=16,
        legend_font_size=16,
        value_font_size=14,
        tooltip_font_size=14,
        title_font_size=16,
        no_data_font_size=22,
        guide_stroke_color="#d6d3d1",
        major_guide_stroke_color="#a8a29e",
        opacity=".85",
        opacity_hover=".95",
        stroke_width="2.5",
        colors=colors,
    )


def axis_usd(value: float) -> str:
    """An axis label: short ($0.005, $1.5, $60, $1,200)."""
    return f"${value:,.0f}" if abs(value) >= 1000 else f"${value:.4g}"


def _options(height: int, *colors: str) -> dict[str, Any]:
    return {
        "style": studio_style(*colors),
        "width": WIDTH,
        "height": height,
        "js": [],
        "disable_xml_declaration": True,
        "formatter": usd_text,  # each point's value (its <desc class="value">, its <title>)
        "value_formatter": axis_usd,
        "max_scale": 5,
        "legend_at_bottom": True,
        "legend_box_size": 14,
        "margin": 8,
        "margin_right": 24,  # room for the last axis label
        "print_zeroes": True,
        "no_data_text": "Nothing spent",
    }


def _render(chart: Any, label: str, full_labels: Sequence[str] | None = None) -> Markup:
    names = [kwargs["title"] for _, kwargs in chart.raw_series]
    chart.add_xml_filter(_readable(label, names, full_labels))
    return Markup(chart.render(is_unicode=True))


def _short(name: str) -> str:
    """A bar's label on the axis: long names would leave the bars no room."""
    return name if len(name) <= LABEL_CHARS else f"{name[: LABEL_CHARS - 1]}…"


def _readable(
    label: str, names: Sequence[str], full_labels: Sequence[str] | None
) -> Callable[[Any], Any]:
    """An xml filter: no script, an accessible name, each series named, each point titled and,
    with `full_labels` (a bar chart's, in its order), its label whole again."""

    def apply(root: Any) -> Any:
        for defs in root.iter("defs"):
            for script in defs.findall("script"):
                defs.remove(script)
        root.set("role", "img")
        root.set("aria-label", f"{label} (the numbers are in the table below)")
        for title in root.findall("title"):  # pygal's own: "Pygal"
            title.text = label
        series, n = "", 0
        for group in root.iter("g"):  # in document order: a series, then its points in order
            classes = (group.get("class") or "").split()
            if "series" in classes:
                serie = next(c for c in classes if c.startswith("serie-"))
                series, n = names[int(serie.removeprefix("serie-"))], 0
                group.set("data-series", series)
            descs = {d.get("class", "").split()[0]: d for d in group.findall("desc")}
            if full_labels is not None and "x_label" in descs:
                descs["x_label"].text = full_labels[n]
                n += 1
            point = {name: d.text for name, d in descs.items()}
            if "value" in point:
                title = root.makeelement("title", {})
                title.text = f"{point.get('x_label', '')}, {series}: {point['value']}"
                group.insert(0, title)
        return root

    return apply


def spend_over_the_month(dashboard: CostDashboard) -> Markup:
    """The month's spend at the end of each day, the budget and, for the current month, the
    projection from today to the month's end."""
    label = f"Spend over {dashboard.month:%B %Y}"
    chart = pygal.Line(
        **_options(320, SPEND, BUDGET, PROJECTION),
        include_x_axis=True,
        show_minor_x_labels=False,
        x_labels_major_every=7,
        dots_size=3,
    )
    chart.x_labels = [f"{d.day:%b} {d.day.day}" for d in dashboard.days]
    chart.add("spent", [d.cumulative_usd for d in dashboard.days])
    if dashboard.budget_usd is not None:
        chart.add(
            "budget",
            [dashboard.budget_usd] * len(dashboard.days),
            dots_size=0,  # no dot drawn, but each point kept (its value, its title)
            stroke_style={"dasharray": "8,5", "width": 2.5},
        )
    if any(d.projected_usd is not None for d in dashboard.days):
        chart.add(
            "projection",
            [d.projected_usd for d in dashboard.days],
            dots_size=0,  # no dot drawn, but each point kept (its value, its title)
            stroke_style={"dasharray": "3,4", "width": 2.5},
        )
    return _render(chart, label)


def spend_by(rows: Sequence[GroupSpend | ModelSpend], what: str) -> Markup:
    """One bar per model, script or user: what it spent this month."""
    label = f"Spend by {what}"
    chart = pygal.HorizontalBar(**_options(_bars_height(len(rows)), SPEND), show_legend=False)
    top_down = list(reversed(rows))  # pygal draws the first bar at the bottom
    chart.x_labels = [_short(_name(row)) for row in top_down]
    chart.add("spent", [row.spent_usd for row in top_down])
    return _render(chart, label, [_name(row) for row in top_down])


def estimates_against_actuals(models: Sequence[ModelSpend]) -> Markup:
    """Per model, over its settled jobs: what was estimated beside what it actually cost."""
    label = "Estimated and actual cost per model"
    settled = [m for m in reversed(models) if m.settled_jobs]
    chart = pygal.HorizontalBar(**_options(_bars_height(2 * len(settled)), "#78716c", ACTUAL))
    chart.x_labels = [_short(m.model_id) for m in settled]
    chart.add("estimated", [m.estimated_usd for m in settled])
    chart.add("actual", [m.actual_usd for m in settled])
    return _render(chart, label, [m.model_id for m in settled])


def _name(row: GroupSpend | ModelSpend) -> str:
    return row.model_id if isinstance(row, ModelSpend) else row.name


def _bars_height(bars: int) -> int:
    return 90 + BAR_HEIGHT * max(bars, 1)


CUT_COLORS = (SPEND, BUDGET, ACTUAL, PROJECTION, "#7c3aed", "#0f766e")
RETENTION_POINTS: tuple[tuple[str, str], ...] = (
    ("play", "played"),
    ("q25", "25%"),
    ("q50", "50%"),
    ("q75", "75%"),
    ("q100", "100%"),
    ("cta", "CTA"),
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def retention_by_cut(report: VariantReport) -> Markup:
    """Per cut, one bar per step: played (of viewers), each quartile reached (of plays), the
    CTA clicked (of viewers), in percent."""
    label = "Retention per cut"
    options = _options(320, *CUT_COLORS) | {
        "formatter": _percent,
        "value_formatter": lambda v: f"{v:.0f}%",
        "no_data_text": "No viewers yet",
        "range": (0, 100),
    }
    chart = pygal.Bar(**options)
    chart.x_labels = [name for _, name in RETENTION_POINTS]
    for arm in report.arms:
        values = [arm.rates[m][2] for m, _ in RETENTION_POINTS]
        chart.add(
            f"{arm.cut} ({arm.variant})",
            [None if v is None else round(100 * v, 1) for v in values],
        )
    return _render(chart, label)
