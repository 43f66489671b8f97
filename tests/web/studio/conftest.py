"""The studio tests' signed-in browser over plain HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp

KEY = "studio-test-key"


@pytest.fixture
def client(build_api_app: BuildApiApp) -> TestClient:
    """A browser signed in with the bootstrap key."""
    browser = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    signed = browser.post(
        "/studio/sign-in", data={"key": KEY, "next": "/studio"}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/studio"
    return browser
