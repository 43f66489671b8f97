"""The one access rule of `/api` and `/review`: both refuse the same requests, each in its form
(JSON with a Bearer challenge, an HTML page with a Basic one)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp, add_clip, review_form_auth
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.keys import create_key, revoke_key

API_KEY = "vsl-deps-key-91c4"
REMOTE = ("198.51.100.7", 50000)  # a client from elsewhere, simulated in process
LOCAL = ("127.0.0.1", 50000)
# (method, path, is the review page) for a read and a decision of each surface
ROUTES = [
    ("GET", "/api/scripts", False),
    ("POST", "/api/scripts/spring-launch/sections/hook/approve", False),
    ("GET", "/review", True),
    ("POST", "/review/spring-launch/hook/approve", True),
]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def approvals(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return conn.execute("SELECT * FROM approvals").fetchall()


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "GET":
        return client.get(path, headers=headers)
    if path.startswith("/api/"):
        return client.post(path, json={}, headers=headers)
    return client.post(path, data={}, headers=headers)


REFUSALS = {
    "remote-without-key": (None, REMOTE, {}, 403),
    "no-credentials": (API_KEY, REMOTE, {}, 401),
    "wrong-bearer": (API_KEY, LOCAL, {"Authorization": "Bearer wrong"}, 401),
    "wrong-basic-password": (API_KEY, LOCAL, basic("reviewer", "wrong"), 401),
    "key-as-basic-user": (API_KEY, LOCAL, basic(API_KEY, ""), 401),
    "other-scheme": (API_KEY, LOCAL, {"Authorization": f"Token {API_KEY}"}, 401),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_api_and_review_page_refuse_the_same_requests(
    build_api_app: BuildApiApp, db: Database, stored_script: Script, case: str
) -> None:
    api_key, client_address, headers, status = REFUSALS[case]
    add_clip(db, "spring-launch", "hook")
    with TestClient(
        build_api_app(api_key), base_url=LOCAL_BASE_URL, client=client_address
    ) as client:
        for method, path, is_page in ROUTES:
            refused = call(client, method, path, headers)
            assert refused.status_code == status, (method, path)
            assert API_KEY not in refused.text
            if is_page:
                assert refused.headers["content-type"].startswith("text/html")
                assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
            else:
                assert refused.headers["content-type"] == "application/json"
            if status == 401:
                challenge = 'Basic realm="VSL review"' if is_page else "Bearer"
                assert refused.headers["www-authenticate"] == challenge
                assert "missing or wrong API key" in refused.text
            else:
                assert "VSL_API_KEY" in refused.text
    assert approvals(db) == []


@pytest.mark.parametrize(
    ("api_key", "client_address", "headers"),
    [
        (None, LOCAL, {}),
        (API_KEY, REMOTE, {"Authorization": f"Bearer {API_KEY}"}),
        (API_KEY, REMOTE, {"Authorization": f"bearer  {API_KEY} "}),
    ],
    ids=["loopback-without-key", "bearer", "bearer-loose-spelling"],
)
def test_api_and_review_page_serve_the_same_requests(
    build_api_app: BuildApiApp,
    db: Database,
    stored_script: Script,
    api_key: str | None,
    client_address: tuple[str, int],
    headers: dict[str, str],
) -> None:
    add_clip(db, "spring-launch", "hook")
    add_clip(db, "spring-launch", "close")
    with TestClient(
        build_api_app(api_key), base_url=LOCAL_BASE_URL, client=client_address
    ) as client:
        assert client.get("/api/scripts", headers=headers).status_code == 200
        assert client.get("/review", headers=headers).status_code == 200
        api = client.post(
            "/api/scripts/spring-launch/sections/hook/approve", json={}, headers=headers
        )
        assert api.status_code == 201
        auth = review_form_auth(client, "/review", **headers)
        page = client.post(
            "/review/spring-launch/close/approve",
            data=auth.fields(),
            headers=headers,
            follow_redirects=False,
        )
        assert page.status_code == 303
    assert sorted(r["section_id"] for r in approvals(db)) == ["close", "hook"]


def test_basic_auth_is_the_review_pages_alone(
    build_api_app: BuildApiApp, stored_script: Script
) -> None:
    with TestClient(build_api_app(API_KEY), base_url=LOCAL_BASE_URL, client=REMOTE) as client:
        assert client.get("/review", headers=basic("anyone", API_KEY)).status_code == 200
        assert client.get("/api/scripts", headers=basic("anyone", API_KEY)).status_code == 401


@pytest.mark.parametrize(
    ("host", "status"),
    [("rebound.example", 421), ("rebound.example:8080", 421), ("bad host", 400)],
    ids=["unknown", "unknown-with-port", "malformed"],
)
def test_api_and_review_page_check_the_host_first(
    build_api_app: BuildApiApp, db: Database, stored_script: Script, host: str, status: int
) -> None:
    """Before the access rule: with the key and without, from loopback and from elsewhere."""
    add_clip(db, "spring-launch", "hook")
    for api_key, client_address, headers in [
        (None, LOCAL, {}),
        (API_KEY, REMOTE, {"Authorization": f"Bearer {API_KEY}"}),
        (API_KEY, REMOTE, {}),
    ]:
        app = build_api_app(api_key)
        with TestClient(app, base_url=LOCAL_BASE_URL, client=client_address) as client:
            for method, path, is_page in ROUTES:
                refused = call(client, method, path, {**headers, "Host": host})
                assert refused.status_code == status, (method, path, refused.text)
                expected_type = "text/html" if is_page else "application/json"
                assert refused.headers["content-type"].startswith(expected_type)
    assert approvals(db) == []


def test_allowed_hosts_are_the_configs(
    build_api_app: BuildApiApp, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    app = build_api_app(allowed_hosts=frozenset({"vsl.example.com"}))
    with TestClient(app, base_url="http://vsl.example.com", client=LOCAL) as client:
        assert client.get("/api/scripts").status_code == 200
        assert client.get("/review").status_code == 200
        assert client.get("/api/scripts", headers={"Host": "127.0.0.1"}).status_code == 421


def test_stored_keys_are_served_from_anywhere_until_revoked(
    build_api_app: BuildApiApp, db: Database, stored_script: Script
) -> None:
    _, key = create_key(db, "crm", user_id="user-1", rate_per_minute=100)
    with TestClient(build_api_app(None), base_url=LOCAL_BASE_URL, client=REMOTE) as client:
        assert client.get("/api/scripts").status_code == 403  # no key from elsewhere
        assert client.get("/api/scripts", headers={"X-API-Key": key}).status_code == 200
        bearer = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/scripts", headers=bearer).status_code == 200
        assert client.get("/review", headers=basic("reviewer", key)).status_code == 200
        wrong = client.get("/api/scripts", headers={"X-API-Key": key[:-2] + "xx"})
        assert wrong.status_code == 401 and key not in wrong.text
        revoke_key(db, "crm")  # mid-session: the next request is refused
        assert client.get("/api/scripts", headers={"X-API-Key": key}).status_code == 401
    with TestClient(build_api_app(API_KEY), base_url=LOCAL_BASE_URL, client=REMOTE) as client:
        # The bootstrap key stays a key beside the stored ones.
        assert client.get("/api/scripts", headers={"X-API-Key": API_KEY}).status_code == 200


def test_a_key_past_its_rate_gets_429_with_retry_after(
    build_api_app: BuildApiApp, db: Database, stored_script: Script
) -> None:
    _, key = create_key(db, "slow", rate_per_minute=2)
    _, other = create_key(db, "other", rate_per_minute=2)
    with TestClient(build_api_app(None), base_url=LOCAL_BASE_URL, client=REMOTE) as client:
        answers = [client.get("/api/scripts", headers={"X-API-Key": key}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert 1 <= int(answers[2].headers["retry-after"]) <= 60
        assert "rate of 2 requests a minute" in answers[2].json()["detail"]
        assert client.get("/api/scripts", headers={"X-API-Key": other}).status_code == 200
