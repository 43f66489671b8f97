"""The studio's publishing of a script: the fragment beside the final video (watch link, embed
snippet, split link) and the variant report's page (chart and table), for the script's own
workspace; another workspace's viewer gets the 404 of an unknown script."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp
from tests.fixtures.watch import PublishCut
from tests.web.studio.conftest import KEY
from vsl_pipelines.db import watch as watch_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import create_workspace


def _signed_in(build_api_app: BuildApiApp, key: str) -> TestClient:
    browser = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    signed = browser.post("/studio/sign-in", data={"key": key, "next": "/studio"})
    assert signed.status_code == 200, signed.text[:300]
    return browser


def test_the_snippet_and_report_are_the_workspace_s_own(
    client: TestClient, build_api_app: BuildApiApp, publish_cut: PublishCut, db: Database
) -> None:
    cut = publish_cut("studio-launch")
    with db.connect() as conn:
        row = watch_rows.cut_by_public_id(conn, cut.cut)
        assert row is not None
        watch_rows.record_event(conn, row.id, "viewer-0001", "view")
    fragment = client.get(f"/studio/scripts/{cut.script_id}/publish")
    assert fragment.status_code == 200
    snippet = html.unescape(fragment.text)
    assert f'<iframe src="{LOCAL_BASE_URL}/watch/{cut.cut}"' in snippet
    assert 'allow="autoplay; fullscreen"' in snippet and "/watch/s/" in snippet
    report = client.get(f"/studio/scripts/{cut.script_id}/variants")
    assert report.status_code == 200
    assert f'data-cut="{cut.cut}"' in report.text and 'class="viewers">1<' in report.text
    assert 'role="img"' in report.text  # the chart, drawn on the server

    with db.connect() as conn:
        create_workspace(conn, "globex", "Globex", None, "test")
    _, theirs = create_key(db, "globex-viewer", workspace="globex", role=Role.VIEWER)
    other = _signed_in(build_api_app, theirs)
    unknown = other.get("/studio/scripts/no-such-script/variants")
    for path in ("variants", "publish"):
        refused = other.get(f"/studio/scripts/{cut.script_id}/{path}")
        assert refused.status_code == unknown.status_code == 404
        assert cut.cut not in refused.text
