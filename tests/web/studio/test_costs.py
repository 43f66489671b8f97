"""The cost dashboard in Chromium (Debian's, driven by Playwright): what each chart draws (read
back from its SVG: each point's `desc.value` under its series' `data-series`) is what
`GET /api/costs/dashboard` answers for the same workspace, this month and a past one; the page
fits a 390 px phone without scrolling sideways; a viewer of another workspace sees its own
figures and none of these.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest

from tests.fixtures.api import StartApi
from tests.fixtures.spending import Spending
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.web.server import RunningService

pytestmark = pytest.mark.browser

BOOTSTRAP = "bootstrap-costs-key"

# {series: {x label: value}} of the chart in `selector`, as the page draws it.
CHART_POINTS = """(selector) => {
    const points = {};
    for (const series of document.querySelectorAll(`${selector} svg g[data-series]`)) {
        for (const value of series.querySelectorAll('desc.value')) {
            const label = value.parentNode.querySelector('desc.x_label').textContent;
            (points[series.dataset.series] ||= {})[label] =
                Number(value.textContent.replace('$', ''));
        }
    }
    return points;
}"""


@pytest.fixture(scope="module")
def browser(chromium_browser: Any) -> Any:
    """The module's Chromium (tests/fixtures/chromium.py)."""
    return chromium_browser


@pytest.fixture
def service(spending: Spending, start_api: StartApi) -> RunningService:
    return start_api(api_key=BOOTSTRAP)


def _signed_in(browser: Any, service: RunningService, key: str, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{service.url}/studio/costs")
    assert "/studio/sign-in" in page.url, "the dashboard asks for a key first"
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{service.url}/studio/costs")
    return page


def _api(service: RunningService, key: str, month: str | None) -> dict[str, Any]:
    answer = httpx.get(
        f"{service.url}/api/costs/dashboard",
        params={"month": month} if month else {},
        headers={"x-api-key": key},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _day(iso: str) -> str:
    """A day as the month chart labels it: `Nov 3`."""
    day = date.fromisoformat(iso)
    return f"{day:%b} {day.day}"


def expected_charts(api: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """What each chart must draw, from the API's answer."""
    days = api["days"]
    month: dict[str, dict[str, float]] = {
        "spent": {
            _day(d["day"]): d["cumulativeUsd"] for d in days if d["cumulativeUsd"] is not None
        }
    }
    if api["budgetUsd"] is not None:
        month["budget"] = {_day(d["day"]): api["budgetUsd"] for d in days}
    if any(d["projectedUsd"] is not None for d in days):
        month["projection"] = {
            _day(d["day"]): d["projectedUsd"] for d in days if d["projectedUsd"] is not None
        }
    settled = [m for m in api["byModel"] if m["settledJobs"]]
    return {
        "#month-chart": {k: v for k, v in month.items() if v},
        "#by-model": _spent({m["modelId"]: m["spentUsd"] for m in api["byModel"]}),
        "#estimates": {
            k: v
            for k, v in {
                "estimated": {m["modelId"]: m["estimatedUsd"] for m in settled},
                "actual": {m["modelId"]: m["actualUsd"] for m in settled},
            }.items()
            if v
        },
        "#by-script": _spent({g["name"]: g["spentUsd"] for g in api["byScript"]}),
        "#by-user": _spent({g["name"]: g["spentUsd"] for g in api["byUser"]}),
    }


def _spent(points: dict[str, float]) -> dict[str, dict[str, float]]:
    return {"spent": points} if points else {}


def _figures(page: Any) -> dict[str, float | None]:
    """The figures at the top of the page (their `data-usd`: '' for none)."""
    shown = {
        name: page.locator(f"#{name}").get_attribute("data-usd")
        for name in ("spent", "projected", "per-minute")
    }
    return {name: float(value) if value else None for name, value in shown.items()}


def test_the_charts_draw_the_api_s_numbers(
    browser: Any, service: RunningService, db: Database
) -> None:
    _, key = create_key(db, "acme-viewer", workspace="acme", role=Role.VIEWER)
    page = _signed_in(browser, service, key)
    refused: list[str] = []  # e.g. a script the Content-Security-Policy stopped
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: refused.append(str(e)))
    try:
        for month in (None, "2026-11"):
            page.goto(f"{service.url}/studio/costs" + (f"?month={month}" if month else ""))
            api = _api(service, key, month)
            shown = datetime.strptime(api["month"], "%Y-%m").strftime("%B %Y")
            assert page.locator("h2").inner_text() == f"Costs · Acme · {shown}"
            for selector, expected in expected_charts(api).items():
                drawn = page.evaluate(CHART_POINTS, selector)
                assert drawn == expected, (month, selector)
            assert _figures(page) == {
                "spent": api["spentUsd"],
                "projected": api["projectedUsd"],
                "per-minute": api["costPerFinishedMinuteUsd"],
            }
            rows = page.locator("#days-table tbody tr")
            assert rows.count() == api["daysInMonth"]
        assert expected_charts(api)["#month-chart"]["spent"]["Nov 10"] == 0.2316  # Nov 2026
        assert refused == []
    finally:
        page.context.close()


def test_the_dashboard_fits_a_phone(browser: Any, service: RunningService, db: Database) -> None:
    _, key = create_key(db, "acme-admin", workspace="acme", role=Role.ADMIN)
    page = _signed_in(browser, service, key, width=390)
    try:
        for month in ("", "?month=2026-11"):
            page.goto(f"{service.url}/studio/costs{month}")
            page.locator("#days-table").locator("xpath=ancestor::details").locator(
                "summary"
            ).click()
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], f"the dashboard scrolls sideways at 390 px: {widths}"
            for chart in page.locator(".chart svg").all():
                box = chart.bounding_box()
                assert box is not None and box["width"] <= 390 and box["height"] > 100
        assert page.locator("#monthly-budget").is_visible(), "an admin's budget form"
    finally:
        page.context.close()


def test_another_workspace_s_viewer_sees_only_its_own(
    browser: Any, service: RunningService, db: Database
) -> None:
    _, key = create_key(db, "globex-viewer", workspace="globex", role=Role.VIEWER)
    page = _signed_in(browser, service, key)
    try:
        page.goto(f"{service.url}/studio/costs?month=2026-11")
        api = _api(service, key, "2026-11")
        assert api["workspace"] == "globex"
        for selector, expected in expected_charts(api).items():
            assert page.evaluate(CHART_POINTS, selector) == expected, selector
        text = page.locator("main").inner_text()
        assert "Globex" in text
        for theirs in ("Acme", "acme-launch", "u-ana", "kling-v2", "0.2316"):
            assert theirs not in text and theirs not in page.content(), theirs
        assert page.locator("#monthly-budget").count() == 0, "a viewer has no budget form"
    finally:
        page.context.close()
