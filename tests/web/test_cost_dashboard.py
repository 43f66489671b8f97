"""`GET /api/costs/dashboard` over real HTTP: the caller's workspace's month as the service
assembles it, the current month by default, another workspace's figures never shown, a bad
month a 422 naming the parameter; and the studio's `/studio/costs` page with the same figures
(viewers and above; admins also get the budget form, which comes back to the dashboard)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp, StartApi
from tests.fixtures.spending import NOVEMBER, Spending
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.web.server import RunningService

BOOTSTRAP = "bootstrap-dashboard-key"
URL = "/api/costs/dashboard"


def _key(db: Database, workspace: str, role: Role = Role.VIEWER) -> str:
    return create_key(db, f"{workspace}-{role.value}", workspace=workspace, role=role)[1]


@pytest.fixture
def service(spending: Spending, start_api: StartApi) -> RunningService:
    return start_api(api_key=BOOTSTRAP)


def _get(service: RunningService, key: str, **params: str) -> httpx.Response:
    return httpx.get(f"{service.url}{URL}", params=params, headers={"x-api-key": key}, timeout=20)


def test_a_viewer_reads_its_workspaces_month(db: Database, service: RunningService) -> None:
    answer = _get(service, _key(db, "acme"), month="2026-11")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["month"], body["workspace"], body["budgetUsd"]) == ("2026-11", "acme", 0.25)
    assert (body["jobs"], body["spentUsd"]) == (NOVEMBER["jobs"], NOVEMBER["spent"])
    assert body["projectedUsd"] == NOVEMBER["spent"] and not body["overBudget"]
    assert (body["daysInMonth"], body["daysBegun"]) == (30, 30)
    days = {int(d["day"][-2:]): d for d in body["days"]}
    assert {n: days[n]["cumulativeUsd"] for n in NOVEMBER["cumulative"]} == NOVEMBER["cumulative"]
    assert {n: d["spentUsd"] for n, d in days.items() if d["spentUsd"]} == NOVEMBER["days"]
    assert body["byModel"][0] == {
        "modelId": "kling-v2",
        "jobs": 1,
        "spentUsd": 0.2,
        "settledJobs": 1,
        "estimatedUsd": 0.25,
        "actualUsd": 0.2,
        "actualOverEstimate": 0.8,
    }
    assert [(g["name"], g["spentUsd"]) for g in body["byUser"]] == [
        ("(scripts)", 0.2066),
        ("u-ana", 0.013),
        ("u-bo", 0.012),
    ]
    assert body["finishedMinutes"] == NOVEMBER["minutes"]
    assert body["costPerFinishedMinuteUsd"] == 0.1158


def test_the_default_is_the_current_month(db: Database, service: RunningService) -> None:
    body = _get(service, _key(db, "acme")).json()
    today = datetime.now(UTC).date()
    assert (body["month"], body["asOf"]) == (f"{today:%Y-%m}", today.isoformat())
    assert body["daysBegun"] == today.day
    # kling-v2's actual 0.21, an ad-hoc estimate, sdxl's billed 0.002637, one flux-schnell
    # image (and, in December 2026, November's boundary job of December 1st)
    spent = 0.218637 + (0.5 if body["month"] == "2026-12" else 0)
    assert body["spentUsd"] == pytest.approx(spent, abs=1e-9)
    assert {m["modelId"]: m["actualUsd"] for m in body["byModel"]}["sdxl"] == 0.002637
    assert body["finishedMinutes"] == 1.0
    if today.day < body["daysInMonth"]:
        projected = spent * body["daysInMonth"] / today.day
        assert body["projectedUsd"] == pytest.approx(projected, abs=0.0001)
        assert body["days"][-1]["projectedUsd"] == body["projectedUsd"]


def test_another_workspace_s_viewer_sees_none_of_it(db: Database, service: RunningService) -> None:
    for month in ("2026-11", None):
        params = {"month": month} if month else {}
        theirs = _get(
            service, _key(db, "globex") if month else _key(db, "globex", Role.ADMIN), **params
        )
        assert theirs.status_code == 200, theirs.text
        body = theirs.json()
        assert body["workspace"] == "globex" and body["spentUsd"] == 0.5
        assert "acme" not in theirs.text and "u-ana" not in theirs.text


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "2026-1", "november", "2026-11-01", "", "9" * 17]
)
def test_a_bad_month_is_422_naming_the_parameter(
    db: Database, service: RunningService, month: str
) -> None:
    refused = _get(service, BOOTSTRAP, month=month)
    assert refused.status_code == 422, refused.text
    assert "month" in refused.json()["detail"]


def test_without_a_key_nothing_is_shown(service: RunningService) -> None:
    refused = httpx.get(f"{service.url}{URL}", timeout=20)
    assert refused.status_code == 401


# The studio's page --------------------------------------------------------------------------

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
_POINT = re.compile(
    r'<desc class="value">([^<]*)</desc>(?:<desc class="[xy][^"]*">[^<]*</desc>)*'
    r'<desc class="x_label">([^<]*)</desc>'
)


def _studio(build_api_app: BuildApiApp, key: str) -> TestClient:
    browser = TestClient(build_api_app(api_key=BOOTSTRAP), base_url=LOCAL_BASE_URL)
    signed = browser.post(
        "/studio/sign-in", data={"key": key, "next": "/studio/costs"}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/studio/costs"
    return browser


def test_the_page_shows_the_month_to_a_viewer(
    db: Database, spending: Spending, build_api_app: BuildApiApp
) -> None:
    browser = _studio(build_api_app, _key(db, "acme"))
    page = browser.get("/studio/costs", params={"month": "2026-11"})
    assert page.status_code == 200, page.text
    html = page.text
    assert '<a href="/studio/costs">Costs</a>' in html, "in the studio's navigation"
    assert "<script" not in html.split("<main>")[1], "the charts run nothing"
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 5
    assert 'id="spent" data-usd="0.2316"' in html and 'id="per-minute" data-usd="0.1158"' in html
    by_model = html.split('id="by-model"')[1].split("</svg>")[0]
    assert {label: value for value, label in _POINT.findall(by_model)} == {
        "kling-v2": "$0.20",
        "sdxl": "$0.022",
        "flux-schnell": "$0.0096",
    }
    assert 'id="budget"' not in html and "monthly_budget" not in html, "the admin's alone"
    assert "globex" not in html.split("<main>")[1]
    assert browser.get("/studio/costs", params={"month": "2026-13"}).status_code == 422
    assert "not a month" in browser.get("/studio/costs", params={"month": "soon"}).text


def test_an_admin_sets_the_budget_from_the_dashboard(
    db: Database, spending: Spending, build_api_app: BuildApiApp
) -> None:
    browser = _studio(build_api_app, _key(db, "acme", Role.ADMIN))
    page = browser.get("/studio/costs")
    assert 'id="monthly-budget"' in page.text and 'name="back" value="costs"' in page.text
    match = _TOKEN.search(page.text)
    assert match is not None
    saved = browser.post(
        "/studio/admin/budget",
        data={"csrf": match[1], "monthly_budget": "0.1", "back": "costs"},
        headers={"origin": LOCAL_BASE_URL},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/studio/costs#budget"
    again = browser.get("/studio/costs", params={"month": "2026-11"}).text
    assert 'id="over-budget"' in again and "$0.2316 spent of $0.10" in again
    elsewhere = browser.post(
        "/studio/admin/budget",
        data={"csrf": match[1], "monthly_budget": "1", "back": "https://elsewhere.test/"},
        headers={"origin": LOCAL_BASE_URL},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/studio/admin#budget", "never sent elsewhere"
