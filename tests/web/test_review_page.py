from __future__ import annotations

import base64
import copy
import html
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from tests.fixtures.api import (
    LOCAL_BASE_URL,
    BuildApiApp,
    StartApi,
    add_clip,
    review_form_auth,
)
from tests.fixtures.scripts import SAMPLE_SCRIPT, store_take
from vsl_pipelines.db.approvals import decisions_after
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.script import Script, load_script, parse_script
from vsl_pipelines.services.previews import render_previews
from vsl_pipelines.services.review import apply_rejection, review_queue
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.review import csrf
from vsl_pipelines.web.review.forms import MAX_FORM_BYTES
from vsl_pipelines.web.server import RunningService

API_KEY = "vsl-review-key-4b8e2d"
ATTACK = "<script>alert(1)</script>"
ESCAPED_ATTACK = "&lt;script&gt;alert(1)&lt;/script&gt;"
FORM = {"content-type": "application/x-www-form-urlencoded"}


class PageParser(HTMLParser):
    """The page's videos, forms (with their fields) and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.videos: list[dict[str, str | None]] = []
        self.audios: list[dict[str, str | None]] = []
        self.forms: list[dict[str, Any]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "video":
            self.videos.append(attributes)
        elif tag == "audio":
            self.audios.append(attributes)
        elif tag == "form":
            self.forms.append({**attributes, "fields": {}})
        elif tag in ("input", "textarea", "select") and self.forms:
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


def approvals(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return conn.execute("SELECT * FROM approvals ORDER BY id").fetchall()


def post_form(url: str, fields: dict[str, str], **headers: str) -> httpx.Response:
    """Post a decision form as a browser showing the page does (its CSRF cookie and token)."""
    page_url = url.split("/review/", 1)[0] + "/review"
    credentials = {k: v for k, v in headers.items() if k.lower() == "authorization"}
    auth = review_form_auth(httpx, page_url, **credentials)
    return httpx.post(
        url, data=auth.fields(fields), headers={**headers, **auth.headers}, timeout=10
    )


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- the page -------------------------------------------------------------------------------


def test_page_lists_waiting_takes_with_clip_and_both_forms(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    api_media_store: LocalMediaStore,
) -> None:
    thumbnail = "scripts/spring-launch/hook/clip-v1.jpg"
    hook = add_clip(db, "spring-launch", "hook", thumbnail_key=thumbnail)
    close = add_clip(db, "spring-launch", "close")

    response = httpx.get(f"{api_service.url}/review", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page = parse_page(response.text)
    assert page.videos == [
        {
            "controls": None,
            "preload": "metadata",
            "src": api_media_store.public_url(hook),
            "poster": api_media_store.public_url(thumbnail),
        },
        {"controls": None, "preload": "metadata", "src": api_media_store.public_url(close)},
    ]
    assert [(f["method"], f["action"], sorted(f["fields"])) for f in page.forms] == [
        ("post", "/review/spring-launch/hook/approve", ["csrf", "note", "subject"]),
        (
            "post",
            "/review/spring-launch/hook/reject",
            ["csrf", "note", "prompt", "seed", "subject"],
        ),
        ("post", "/review/spring-launch/close/approve", ["csrf", "note", "subject"]),
        (
            "post",
            "/review/spring-launch/close/reject",
            ["csrf", "note", "prompt", "seed", "subject"],
        ),
    ]
    assert {f["fields"]["subject"] for f in page.forms} == {"clip"}
    text = " ".join(page.text)
    assert stored_script.title in text
    hook_section, _, close_section = stored_script.sections
    assert hook_section.narration in text and close_section.narration in text
    assert hook_section.keyframe is not None and hook_section.keyframe.prompt in text
    assert "Section offer" not in text, "a section without a clip waits for nothing"
    assert "2 takes waiting" in text


def test_empty_queue_and_unknown_script(api_service: RunningService, stored_script: Script) -> None:
    empty = httpx.get(f"{api_service.url}/review?script=spring-launch", timeout=10)
    assert empty.status_code == 200
    assert "Nothing is waiting for review" in empty.text
    assert parse_page(empty.text).forms == []

    unknown = httpx.get(f"{api_service.url}/review?script=nope", timeout=10)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "no script 'nope'" in html.unescape(unknown.text)


# -- decisions ------------------------------------------------------------------------------


def test_approve_by_form_redirects_back_and_records_the_decision(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    add_clip(db, "spring-launch", "close")
    response = post_form(
        f"{api_service.url}/review/spring-launch/hook/approve",
        {"note": "  lovely light ", "view": "spring-launch"},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == (  # back where the reviewer was: the next take
        "/review?done=approved%3Aspring-launch%2Fhook&script=spring-launch"
        "#clip-spring-launch-close-1"
    )
    [row] = approvals(db)
    assert (row["section_id"], row["take"], row["decision"], row["note"]) == (
        "hook",
        1,
        "approved",
        "lovely light",
    )
    assert row["prompt"] is None and row["seed"] is None
    assert row["reviewer"] == "local operator"  # a loopback client of a service without keys

    page = httpx.get(api_service.url + response.headers["location"], timeout=10)
    assert page.status_code == 200
    assert "Approved spring-launch/hook." in page.text
    actions = [f["action"] for f in parse_page(page.text).forms]
    assert actions == ["/review/spring-launch/close/approve", "/review/spring-launch/close/reject"]


def test_reject_by_form_records_prompt_seed_and_note(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "close")
    response = post_form(
        f"{api_service.url}/review/spring-launch/close/reject",
        {"note": "too dark", "prompt": "a family laughing, bright morning", "seed": "7"},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/review?done=rejected%3Aspring-launch%2Fclose"
    [row] = approvals(db)
    assert (row["section_id"], row["decision"], row["note"], row["prompt"], row["seed"]) == (
        "close",
        "rejected",
        "too dark",
        "a family laughing, bright morning",
        7,
    )
    page = httpx.get(api_service.url + response.headers["location"], timeout=10)
    assert "Rejected spring-launch/close; a new take will be generated." in page.text
    assert "Nothing is waiting for review" in page.text


def test_empty_fields_count_as_not_given(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = post_form(
        f"{api_service.url}/review/spring-launch/hook/reject",
        {"note": "", "prompt": "   ", "seed": ""},
    )
    assert response.status_code == 303, response.text
    [row] = approvals(db)
    assert (row["decision"], row["note"], row["prompt"], row["seed"]) == (
        "rejected",
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("path", "fields", "status", "words"),
    [
        ("hook/reject", {"seed": str(2**31)}, 422, "seed: Input should be less than or equal"),
        ("hook/reject", {"seed": "-1"}, 422, "seed: Input should be greater than or equal"),
        ("hook/reject", {"seed": "lucky"}, 422, "seed: Input should be a valid integer"),
        (
            "hook/approve",
            {"prompt": "brighter"},
            422,
            "prompt: Value error, belongs to a rejection",
        ),
        ("hook/approve", {"seed": "3"}, 422, "seed: Value error, belongs to a rejection"),
        ("hook/approve", {"verdict": "yes"}, 422, "verdict: Extra inputs are not permitted"),
        ("intro/approve", {}, 404, "has no section 'intro'"),
        ("offer/reject", {"note": "meh"}, 409, "has no clip for take 1"),
    ],
    ids=["seed-high", "seed-negative", "seed-text", "prompt", "seed", "unknown", "section", "clip"],
)
def test_refused_decisions_name_the_problem_and_store_nothing(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    path: str,
    fields: dict[str, str],
    status: int,
    words: str,
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = post_form(f"{api_service.url}/review/spring-launch/{path}", fields)
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert words in html.unescape(response.text), response.text
    assert approvals(db) == []


def test_decision_on_unknown_script_is_404(api_service: RunningService) -> None:
    response = post_form(f"{api_service.url}/review/nope/hook/approve", {})
    assert response.status_code == 404
    assert "no script 'nope'" in html.unescape(response.text)


def test_unreadable_posts_are_refused(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    url = f"{api_service.url}/review/spring-launch/hook/reject"
    as_json = httpx.post(url, json={"note": "x"}, timeout=10)
    assert as_json.status_code == 415
    assert "application/x-www-form-urlencoded" in html.unescape(as_json.text)

    huge = httpx.post(url, content=b"note=" + b"a" * MAX_FORM_BYTES, headers=FORM, timeout=10)
    assert huge.status_code == 413 and f"larger than {MAX_FORM_BYTES} bytes" in huge.text

    twice = httpx.post(url, content=b"seed=1&seed=2", headers=FORM, timeout=10)
    assert twice.status_code == 422 and "seed given more than once" in twice.text

    not_utf8 = httpx.post(url, content=b"note=%ff%fe", headers=FORM, timeout=10)
    assert not_utf8.status_code == 422 and "UTF-8" in not_utf8.text
    assert approvals(db) == []


# -- cross-site posts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["other-host", "other-port", "opaque", "cross-site", "same-site"],
)
def test_cross_site_posts_are_refused(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    headers: dict[str, str],
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = post_form(
        f"{api_service.url}/review/spring-launch/hook/approve", {"note": "ok"}, **headers
    )
    assert response.status_code == 403
    assert "posted from another site" in response.text
    assert approvals(db) == []


def test_same_origin_posts_are_accepted(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = post_form(
        f"{api_service.url}/review/spring-launch/hook/approve",
        {},
        Origin=api_service.url,
        **{"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 303, response.text
    assert [r["decision"] for r in approvals(db)] == ["approved"]


# -- access ---------------------------------------------------------------------------------


def test_api_key_is_asked_for_with_basic_auth(
    start_api: StartApi, db: Database, stored_script: Script
) -> None:
    service = start_api(api_key=API_KEY)
    add_clip(db, "spring-launch", "hook")
    url = f"{service.url}/review"
    refusals = [
        {},
        basic("reviewer", "wrong"),
        basic(API_KEY, "reviewer"),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer wrong"},
    ]
    for headers in refusals:
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == 'Basic realm="VSL review"'
        assert "missing or wrong API key" in refused.text
        assert API_KEY not in refused.text
    refused_post = httpx.post(
        f"{url}/spring-launch/hook/approve", data={}, headers=basic("x", "wrong"), timeout=10
    )
    assert refused_post.status_code == 401 and API_KEY not in refused_post.text
    assert approvals(db) == []

    for headers in (
        basic("marketer", API_KEY),
        basic("", API_KEY),
        {"Authorization": f"Bearer {API_KEY}"},
    ):
        allowed = httpx.get(url, headers=headers, timeout=10)
        assert allowed.status_code == 200, headers
        assert API_KEY not in allowed.text
        actions = [f["action"] for f in parse_page(allowed.text).forms]
        assert actions == [
            "/review/spring-launch/hook/approve",
            "/review/spring-launch/hook/reject",
        ]
    approved = post_form(f"{url}/spring-launch/hook/approve", {}, **basic("marketer", API_KEY))
    assert approved.status_code == 303 and API_KEY not in approved.headers["location"]
    assert [r["decision"] for r in approvals(db)] == ["approved"]

    api_with_basic = httpx.get(f"{service.url}/api/scripts", headers=basic("x", API_KEY))
    assert api_with_basic.status_code == 401, "the JSON API keeps asking for a bearer key"


def test_without_a_key_only_loopback_clients_see_the_page(
    build_api_app: BuildApiApp, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    # A client from elsewhere, simulated in process (no traffic leaves loopback in tests).
    remote_address = ("198.51.100.7", 50000)
    with TestClient(build_api_app(), base_url=LOCAL_BASE_URL, client=remote_address) as remote:
        page = remote.get("/review")
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "VSL_API_KEY" in page.text
        post = remote.post("/review/spring-launch/hook/approve", data={"note": "ok"})
        assert post.status_code == 403
    assert approvals(db) == []

    with TestClient(
        build_api_app(API_KEY), base_url=LOCAL_BASE_URL, client=remote_address
    ) as remote:
        assert remote.get("/review", headers=basic("m", API_KEY)).status_code == 200


# -- stored text is escaped -----------------------------------------------------------------


def test_stored_text_is_escaped(
    api_service: RunningService, db: Database, registry: Registry
) -> None:
    document = copy.deepcopy(yaml.safe_load(SAMPLE_SCRIPT.read_text()))
    document["title"] = f"Launch {ATTACK}"
    document["sections"][0]["narration"] = f"Tired? {ATTACK}"
    script = parse_script(document, "test", registry)
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
    add_clip(db, "spring-launch", "hook")

    rejected = post_form(
        f"{api_service.url}/review/spring-launch/hook/reject",
        {"note": f"too dark {ATTACK}", "prompt": f"brighter {ATTACK}"},
    )
    assert rejected.status_code == 303
    with db.connect() as conn:
        [decision] = decisions_after(conn, 0, 10)
        assert apply_rejection(conn, decision) == 2
    add_clip(db, "spring-launch", "hook", take=2)

    response = httpx.get(
        f"{api_service.url}/review", params={"done": f"approved:{ATTACK}"}, timeout=10
    )
    assert response.status_code == 200
    assert ATTACK not in response.text
    text = " ".join(parse_page(response.text).text)
    for shown in (
        f"Launch {ATTACK}",  # title
        f"Tired? {ATTACK}",  # narration
        f"brighter {ATTACK}",  # the rejection's prompt, used by take 2
        f"too dark {ATTACK}",  # the note on take 1
        f"Approved {ATTACK}.",  # the confirmation from the query string
    ):
        assert shown in text, shown
    assert response.text.count(ESCAPED_ATTACK) == 6  # the prompt again, in its reject form

    error = httpx.get(f"{api_service.url}/review", params={"script": ATTACK}, timeout=10)
    assert error.status_code == 422, "not an id: refused naming the parameter, value echoed"
    assert "query script: " in html.unescape(error.text)
    assert ATTACK not in error.text and ESCAPED_ATTACK in error.text


def test_quotes_and_markup_are_escaped_by_the_templates(
    api_service: RunningService, db: Database, registry: Registry
) -> None:
    hostile = """<script>alert("x")</script> & 'y' "><img src=x onerror=alert(1)>"""
    escaped = (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;y&#39;"
        " &#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
    )
    document = copy.deepcopy(yaml.safe_load(SAMPLE_SCRIPT.read_text()))
    document["sections"][0]["narration"] = f"narration {hostile}"
    document["sections"][0]["keyframe"]["prompt"] = f"prompt {hostile}"
    script = parse_script(document, "test", registry)
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
    add_clip(db, "spring-launch", "hook")
    rejected = post_form(
        f"{api_service.url}/review/spring-launch/hook/reject", {"note": f"note {hostile}"}
    )
    assert rejected.status_code == 303
    with db.connect() as conn:
        [decision] = decisions_after(conn, 0, 10)
        assert apply_rejection(conn, decision) == 2
    add_clip(db, "spring-launch", "hook", take=2)

    response = httpx.get(f"{api_service.url}/review", timeout=10)
    assert response.status_code == 200
    for shown in ("narration", "prompt", "note"):
        assert f"{shown} {escaped}" in response.text, shown
    assert "<script>" not in response.text and "<img" not in response.text
    page = parse_page(response.text)
    assert [v["src"] for v in page.videos] == [
        "http://127.0.0.1:1/media/scripts/spring-launch/hook/clip-v2.mp4"
    ]
    text = " ".join(page.text)
    for shown in ("narration", "prompt", "note"):
        assert f"{shown} {hostile}" in text, shown

    # Error pages echo what was sent: a field's name, a script id.
    unknown_field = post_form(
        f"{api_service.url}/review/spring-launch/hook/approve", {hostile: "1"}
    )
    assert unknown_field.status_code == 422
    assert f"{escaped}: Extra inputs are not permitted" in unknown_field.text
    missing = httpx.get(f"{api_service.url}/review", params={"script": hostile}, timeout=10)
    assert missing.status_code == 422
    assert "&lt;script&gt;alert(" in missing.text
    for refused in (unknown_field, missing):
        assert "<script>" not in refused.text and "<img" not in refused.text


# -- CSRF tokens and bad input (issue 8, items 2-3) -------------------------------------------


def test_the_page_sets_a_strict_session_cookie_for_its_forms(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    page = httpx.get(f"{api_service.url}/review", timeout=10)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{csrf.COOKIE}=")
    for attribute in ("HttpOnly", "Path=/review", "SameSite=strict"):
        assert attribute.lower() in cookie.lower(), cookie
    tokens = {f["fields"]["csrf"] for f in parse_page(page.text).forms}
    assert len(tokens) == 1 and None not in tokens
    again = httpx.get(
        f"{api_service.url}/review", headers={"Cookie": cookie.split(";")[0]}, timeout=10
    )
    assert again.headers["set-cookie"].split(";")[0] == cookie.split(";")[0], "session kept"
    assert {f["fields"]["csrf"] for f in parse_page(again.text).forms} == tokens


def test_posts_without_the_pages_csrf_token_are_refused(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    build_api_app: BuildApiApp,
) -> None:
    """A page elsewhere can post a form to 127.0.0.1 (a browser adds the Basic credentials it
    has), but it cannot read the token, nor send the SameSite=Strict cookie."""
    add_clip(db, "spring-launch", "hook")
    url = f"{api_service.url}/review/spring-launch/hook/reject"
    auth = review_form_auth(httpx, f"{api_service.url}/review")
    other = review_form_auth(httpx, f"{api_service.url}/review")  # another session
    local = ("127.0.0.1", 50000)
    # Another deployment (its own session secret); replicas of this one share theirs.
    another = build_api_app(session_secret=b"another deployment's secret")
    with TestClient(another, base_url=LOCAL_BASE_URL, client=local) as elsewhere:
        foreign = review_form_auth(elsewhere, "/review")
    fields = {"prompt": "a competitor's logo"}
    attempts = {
        "no token, no cookie": ({}, fields),
        "cookie without token": (auth.headers, fields),
        "token without cookie": ({}, auth.fields(fields)),
        "token of another session": (other.headers, auth.fields(fields)),
        "token of another service": (foreign.headers, foreign.fields(fields)),
        "cookie as token": (auth.headers, {"csrf": auth.cookie, **fields}),
        "token twice": (auth.headers, {"csrf": [auth.token, auth.token], **fields}),
    }
    for name, (headers, data) in attempts.items():
        refused = httpx.post(url, data=data, headers=headers, timeout=10)
        expected = 422 if name == "token twice" else 403  # a repeated field is refused first
        assert refused.status_code == expected, (name, refused.text)
        if expected == 403:
            assert "CSRF token is missing or stale" in html.unescape(refused.text), name
    assert approvals(db) == []
    accepted = httpx.post(url, data=auth.fields(fields), headers=auth.headers, timeout=10)
    assert accepted.status_code == 303, accepted.text


def test_a_bare_post_is_415_not_an_empty_form(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    auth = review_form_auth(httpx, f"{api_service.url}/review")
    bare = httpx.post(
        f"{api_service.url}/review/spring-launch/hook/approve", headers=auth.headers, timeout=10
    )
    assert bare.status_code == 415 and "content type 'missing'" in html.unescape(bare.text)
    assert approvals(db) == []


def test_unknown_host_names_are_refused_for_forms_too(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    port = api_service.url.rsplit(":", 1)[1]
    url = f"{api_service.url}/review/spring-launch/hook/approve"
    auth = review_form_auth(httpx, f"{api_service.url}/review")
    rebound = f"rebound.example:{port}"
    response = httpx.post(
        url,
        data=auth.fields(),
        headers={**auth.headers, "Host": rebound, "Origin": f"http://{rebound}"},
        timeout=10,
    )
    assert response.status_code == 421
    assert response.headers["content-type"].startswith("text/html")
    assert approvals(db) == []


@pytest.mark.parametrize(
    ("path", "fields", "words"),
    [
        ("spring-launch/hook/reject", {"note": "too\x00dark"}, "note: Value error, contains"),
        ("spring-launch/hook/reject", {"prompt": "bright\x1b[0m"}, "prompt: Value error"),
        ("spring-launch/hook/reject", {"prompt": "x" * 5000}, "prompt: String should have at"),
        ("spring-launch/hook/reject", {"seed": "1e308"}, "seed: Input should be a valid int"),
        ("spring-launch/hook/approve", {"view": "../evil?x="}, "form view: "),
        ("spring%00launch/hook/approve", {}, "path script_id: "),
        ("spring-launch/hook%0A/approve", {}, "path section_id: "),
        ("spring-launch/" + "h" * 300 + "/approve", {}, "path section_id: "),
    ],
    ids=["note-nul", "prompt-escape", "prompt-long", "seed-huge", "view", "path", "nl", "long"],
)
def test_bad_form_input_is_422_naming_the_field(
    api_service: RunningService,
    db: Database,
    stored_script: Script,
    path: str,
    fields: dict[str, str],
    words: str,
) -> None:
    add_clip(db, "spring-launch", "hook")
    response = post_form(f"{api_service.url}/review/{path}", fields)
    assert response.status_code == 422, response.text
    assert words in html.unescape(response.text), response.text
    assert approvals(db) == []


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"script": "spring\x00launch"}, "query script: "),
        ({"script": "spring-launch\n"}, "query script: "),
        ({"done": "approved:x\x00"}, "query done: contains the control character U+0000"),
    ],
    ids=["script-nul", "script-newline", "done-nul"],
)
def test_bad_page_queries_are_422(
    api_service: RunningService, stored_script: Script, query: dict[str, str], words: str
) -> None:
    response = httpx.get(f"{api_service.url}/review", params=query, timeout=10)
    assert response.status_code == 422, response.text
    assert words in html.unescape(response.text)


def test_a_form_from_one_replica_is_accepted_by_another(
    start_api: StartApi, db: Database, stored_script: Script
) -> None:
    """Replicas (and workers, and a restarted service) share the form tokens' key: a page
    served by one is decided on another."""
    add_clip(db, "spring-launch", "hook")
    first, second = start_api(), start_api()
    auth = review_form_auth(httpx, f"{first.url}/review")
    response = httpx.post(
        f"{second.url}/review/spring-launch/hook/approve",
        data=auth.fields({"note": "seen on the first"}),
        headers=auth.headers,
        timeout=10,
    )
    assert response.status_code == 303, response.text
    [row] = approvals(db)
    assert (row["section_id"], row["note"]) == ("hook", "seen on the first")


# -- narration ------------------------------------------------------------------------------

NARRATED = "spring-launch-narrated"


def test_narration_takes_are_reviewed_on_their_own_and_heard_with_their_clip(
    api_service: RunningService,
    db: Database,
    registry: Registry,
    api_media_store: LocalMediaStore,
    make_clip: Callable[..., Path],
    make_voice: Callable[..., Path],
) -> None:
    path = PROJECT_ROOT / "config" / "scripts" / f"{NARRATED}.yaml"
    with db.connect() as conn:
        insert_script(conn, load_script(path, registry), str(path), default_workspace_id(conn))
    clip = make_clip(width=320, height=240, seconds=1.0)
    hook_voice = store_take(
        db,
        api_media_store,
        NARRATED,
        "hook",
        "narration",
        1,
        make_voice(text="Tired of cooking?"),
    )
    store_take(db, api_media_store, NARRATED, "hook", "clip", 1, clip)
    [preview] = render_previews(db, api_media_store, NARRATED)  # the hook's, real
    close_clip = store_take(db, api_media_store, NARRATED, "close", "clip", 1, clip)
    close_voice = store_take(
        db,
        api_media_store,
        NARRATED,
        "close",
        "narration",
        1,
        make_voice(text="Start today."),
    )

    page = parse_page(httpx.get(f"{api_service.url}/review", timeout=10).text)
    by_action = [(f["action"].rsplit("/", 2)[1:], f["fields"]) for f in page.forms]
    assert [(a, f["subject"]) for a, f in by_action] == [
        (["hook", "approve"], "clip"),
        (["hook", "reject"], "clip"),
        (["hook", "approve"], "narration"),
        (["hook", "reject"], "narration"),
        (["close", "approve"], "clip"),
        (["close", "reject"], "clip"),
        (["close", "approve"], "narration"),
        (["close", "reject"], "narration"),
    ]
    assert sorted(by_action[3][1]) == ["csrf", "note", "speed", "subject", "text", "voice"]
    # The hook is heard as it will play (its preview), the close as clip and voice side by
    # side until its preview is made.
    sources = [v["src"] for v in page.videos]
    assert (
        sources
        == [api_media_store.public_url(preview)] * 2 + [api_media_store.public_url(close_clip)] * 2
    )
    assert [a["src"] for a in page.audios] == [api_media_store.public_url(close_voice)] * 2
    assert api_media_store.public_url(hook_voice) not in " ".join(sources)
    text = " ".join(page.text)
    assert "voice take 1" in text and "kokoro-82m" in text and "bm_george" in text

    refused = post_form(
        f"{api_service.url}/review/{NARRATED}/hook/reject",
        {"subject": "narration", "speed": "9"},
    )
    assert refused.status_code == 422, refused.text
    assert "speed" in html.unescape(refused.text)
    assert approvals(db) == []

    done = post_form(
        f"{api_service.url}/review/{NARRATED}/hook/reject",
        {"subject": "narration", "text": "Tired of cooking, again?", "voice": "af_sarah",
         "speed": "1.2", "note": "slower start"},
    )  # fmt: skip
    assert done.status_code == 303, done.text
    assert "narration" in done.headers["location"]
    [row] = approvals(db)
    assert (row["subject"], row["section_id"], row["take"], row["decision"]) == (
        "narration", "hook", 1, "rejected",
    )  # fmt: skip
    assert row["params"] == {"voice": "af_sarah", "speed": 1.2}
    assert row["text"] == "Tired of cooking, again?" and row["note"] == "slower start"
    with db.connect() as conn:
        queue = review_queue(conn, NARRATED)
    assert ("hook", "clip") in [(q["section"], q["subject"]) for q in queue], "clip undecided"

    approved = post_form(
        f"{api_service.url}/review/{NARRATED}/close/approve", {"subject": "narration"}
    )
    assert approved.status_code == 303, approved.text
    assert [r["subject"] for r in approvals(db)] == ["narration", "narration"]


# -- one place for people, the place kept (issue 23) ----------------------------------------------


def test_the_page_links_to_the_studio_and_folds_its_reject_forms(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    add_clip(db, "spring-launch", "hook")
    page = httpx.get(f"{api_service.url}/review", timeout=10)
    assert '<a href="/review">all waiting takes</a>' in page.text
    assert '<a href="/studio/review" id="studio-link">' in page.text
    assert '<details class="reject-fold">' in page.text and "<details open" not in page.text
    assert "Variation (optional" in page.text and "Seed (optional)" not in page.text
    assert "script-src" not in page.headers["content-security-policy"], "no script on this page"


def test_after_a_decision_the_page_comes_back_to_the_take_next_to_it(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    """The take that followed the decided one on the page, or the one before the last; none
    when nothing is left."""
    for section in ("hook", "close"):
        add_clip(db, "spring-launch", section)
    url = f"{api_service.url}/review/spring-launch"
    last = post_form(f"{url}/close/approve", {})
    assert last.headers["location"].endswith("#clip-spring-launch-hook-1")
    first = post_form(f"{url}/hook/approve", {"view": "spring-launch"})
    assert first.headers["location"] == (
        "/review?done=approved%3Aspring-launch%2Fhook&script=spring-launch"
    )
    assert [r["section_id"] for r in approvals(db)] == ["close", "hook"]


def test_the_reject_form_starts_from_the_current_prompt_which_is_no_override_unchanged(
    api_service: RunningService, db: Database, stored_script: Script
) -> None:
    """The clip's reject form holds the prompt the take was made from; sent back as it is, it
    is no override (the retake keeps the script's prompt), while a changed one is."""
    add_clip(db, "spring-launch", "hook")
    add_clip(db, "spring-launch", "close")
    page = httpx.get(f"{api_service.url}/review", timeout=10)
    hook, close = (s.keyframe.prompt for s in stored_script.sections[::2])  # type: ignore[union-attr]
    for prompt in (hook, close):
        assert f">{html.escape(prompt)}</textarea>" in page.text, prompt
    for section, prompt in (("hook", hook), ("close", f"{close}, brighter")):
        response = post_form(
            f"{api_service.url}/review/spring-launch/{section}/reject", {"prompt": prompt}
        )
        assert response.status_code == 303, response.text
    assert [(r["section_id"], r["prompt"]) for r in approvals(db)] == [
        ("hook", None),
        ("close", f"{close}, brighter"),
    ]
