"""The studio over plain HTTP: sign-in and sessions, CSRF and cross-site posts, the editor's
errors at their fields, bad input refused with 4xx and nothing stored, unknown scripts 404."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp, StartApi
from tests.web.studio.conftest import KEY
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.billing import usd_text
from vsl_pipelines.domain.script import Script
from vsl_pipelines.settings import PROJECT_ROOT

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def token(client: TestClient, path: str = "/studio/scripts/new") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = _TOKEN.search(page.text)
    assert match is not None
    return match.group(1)


def editor_fields(**changes: str) -> dict[str, str]:
    fields = {
        "title": "Autumn sale",
        "id": "autumn-sale",
        "budget_usd": "1",
        "sections-0-id": "hook",
        "sections-0-narration": "Hello <b>there</b>",
        "sections-0-visual": "still",
        "sections-0-keyframe-model": "flux-schnell",
        "sections-0-keyframe-prompt": "a shop window",
        "sections-0-still-duration_s": "2",
        "output-format": "mp4",
        "op": "submit",
    }
    fields.update(changes)
    return fields


def script_count(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute("SELECT count(*) AS n FROM scripts").fetchone()["n"])


def test_pages_need_a_session_and_a_valid_key(build_api_app: BuildApiApp) -> None:
    browser = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    page = browser.get("/studio/scripts/new", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/studio/sign-in?next=%2Fstudio%2Fscripts%2Fnew"
    assert browser.post("/studio/scripts/new", data=editor_fields()).status_code == 401
    wrong = browser.post("/studio/sign-in", data={"key": "nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    signed = browser.post(
        "/studio/sign-in",
        data={"key": KEY, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert signed.headers["location"] == "/studio"  # never sent elsewhere
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/studio" in cookie
    assert KEY not in cookie
    assert browser.get("/studio").status_code == 200
    # A forged cookie is no session.
    browser.cookies.set("vsl_studio", "eyJ3aG8iOiJib290c3RyYXAifQ.forged.sig", path="/studio")
    assert browser.get("/studio", follow_redirects=False).status_code == 303


def test_a_stored_key_signs_in_and_revoking_it_ends_the_session(
    build_api_app: BuildApiApp, db: Database
) -> None:
    from vsl_pipelines.services.keys import create_key, revoke_key

    _, key = create_key(db, "marketer")
    browser = TestClient(build_api_app(api_key=KEY), base_url=LOCAL_BASE_URL)
    assert (
        browser.post("/studio/sign-in", data={"key": key}, follow_redirects=False).status_code
        == 303
    )
    assert browser.get("/studio").status_code == 200
    revoke_key(db, "marketer")
    assert browser.get("/studio", follow_redirects=False).status_code == 303


def test_posts_need_the_token_and_the_same_site(client: TestClient, db: Database) -> None:
    assert client.post("/studio/scripts/new", data=editor_fields()).status_code == 403
    fields = editor_fields(csrf=token(client))
    cross = client.post(
        "/studio/scripts/new", data=fields, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "another site" in cross.text
    fetch = client.post(
        "/studio/scripts/new", data=fields, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetch.status_code == 403
    assert script_count(db) == 0


def test_submitting_stores_the_script_and_shows_its_page(client: TestClient, db: Database) -> None:
    stored = client.post(
        "/studio/scripts/new", data=editor_fields(csrf=token(client)), follow_redirects=False
    )
    assert stored.status_code == 303, stored.text
    assert stored.headers["location"] == "/studio/scripts/autumn-sale"
    page = client.get("/studio/scripts/autumn-sale")
    assert page.status_code == 200
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in page.text  # user text is escaped
    assert "Content-Security-Policy" in page.headers
    listed = client.get("/studio?status=queued")
    assert "autumn-sale" in listed.text
    assert "autumn-sale" not in client.get("/studio?status=compiled").text
    exported = client.get("/studio/scripts/autumn-sale/script.yaml")
    assert exported.status_code == 200 and "narration: Hello <b>there</b>" in exported.text


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"sections-0-narration": ""}, "sections-0-narration", "Section 1, narration: must not"),
        ({"budget_usd": "0.0001"}, "budget_usd", "exceeds its budget"),
        ({"title": "a\x07b"}, "title", "control character"),
        (
            {"sections-0-keyframe-param-aspect_ratio": "7:7"},
            "sections-0-keyframe-param-aspect_ratio",
            "not one of",
        ),
        (
            {"sections-0-keyframe-param-num_outputs": "9"},
            "sections-0-keyframe-param-num_outputs",
            "above the maximum",
        ),
        ({"id": "Not An Id"}, "id", "lowercase"),
        ({"output-transition": "spin:1"}, "output-transition", "is not a transition"),
        (
            {"voice-model": "kokoro-82m", "voice-param-speed": "9"},
            "voice-param-speed",
            "above the maximum",
        ),
        (
            {"voice-model": "kokoro-82m", "voice-param-voice": "zz_nobody"},
            "voice-param-voice",
            "not one of",
        ),
    ],
)
def test_an_invalid_script_is_shown_at_its_field_and_not_stored(
    client: TestClient, db: Database, changes: dict[str, str], field: str, words: str
) -> None:
    page = client.post("/studio/scripts/new", data=editor_fields(csrf=token(client), **changes))
    assert page.status_code == 422, page.text[:500]
    error = re.search(
        rf'<p class="field-error" id="{re.escape(field)}-error"[^>]*>([^<]*)<', page.text
    )
    assert error is not None, f"no error at {field}"
    assert words in error.group(1)
    assert f'id="{field}"' in page.text
    assert script_count(db) == 0


def test_sections_are_added_moved_and_removed(client: TestClient) -> None:
    csrf = token(client)
    added = client.post("/studio/scripts/new", data=editor_fields(csrf=csrf, op="add"))
    assert added.status_code == 200 and 'id="sections-1-narration"' in added.text
    fields = editor_fields(
        csrf=csrf,
        op="up-1",
        **{"sections-1-id": "close", "sections-1-narration": "Bye", "sections-1-visual": "still"},
    )
    moved = client.post("/studio/scripts/new", data=fields)
    assert moved.text.index('value="close"') < moved.text.index('value="hook"')
    removed = client.post("/studio/scripts/new", data=editor_fields(csrf=csrf, op="remove-0"))
    assert 'id="sections-0-narration"' not in removed.text


def test_the_estimate_is_the_cli_s(
    client: TestClient, registry: Any, sample_script: Script
) -> None:
    from vsl_pipelines.generation.stages import estimate_script_cost

    page = client.post("/studio/scripts/estimate", data=editor_fields(csrf=token(client)))
    assert page.status_code == 200
    expected = estimate_script_cost(Script.model_validate({**editor_fields_document()}), registry)
    assert usd_text(expected["total_usd"]) in page.text


def editor_fields_document() -> dict[str, Any]:
    return {
        "id": "autumn-sale",
        "title": "Autumn sale",
        "budget_usd": 1,
        "sections": [
            {
                "id": "hook",
                "narration": "Hello",
                "keyframe": {"model": "flux-schnell", "prompt": "a shop window"},
                "still": {"duration_s": 2},
            }
        ],
    }


def test_yaml_import_fills_the_editor_and_bad_yaml_is_named(
    client: TestClient, db: Database
) -> None:
    csrf = token(client)
    sample = (PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml").read_text()
    page = client.post("/studio/scripts/import", data={"csrf": csrf, "yaml": sample})
    assert page.status_code == 200 and 'value="spring-launch"' in page.text
    assert 'id="sections-2-narration"' in page.text
    bad = client.post("/studio/scripts/import", data={"csrf": csrf, "yaml": "a: [1,"})
    assert bad.status_code == 422 and 'id="yaml-error"' in bad.text and "invalid YAML" in bad.text
    assert script_count(db) == 0


def test_bad_input_is_refused_with_4xx(client: TestClient, db: Database) -> None:
    csrf = token(client)
    huge = client.post(
        "/studio/scripts/new",
        data=editor_fields(csrf=csrf, **{"sections-0-narration": "x" * 1_100_000}),
    )
    assert huge.status_code == 413
    too_long = client.post(
        "/studio/scripts/new",
        data=editor_fields(csrf=csrf, **{"sections-0-narration": "x" * 20_000}),
    )
    assert too_long.status_code == 422 and 'id="sections-0-narration-error"' in too_long.text
    malformed = client.post(
        "/studio/scripts/new",
        content=b"csrf=" + csrf.encode() + b"&title=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert malformed.status_code == 422
    many = "&".join(f"f{i}=1" for i in range(7000))
    assert (
        client.post(
            "/studio/scripts/new",
            content=many.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).status_code
        == 422
    )
    assert client.post("/studio/scripts/new", json={"title": "x"}).status_code == 415
    weird = client.post(
        "/studio/scripts/new",
        data=editor_fields(
            csrf=csrf,
            **{
                "sections-9999-visual": "nope",
                "sections-0-still-duration_s": "abc",
                "budget_usd": "1e999",
            },
        ),
    )
    assert weird.status_code == 422
    assert script_count(db) == 0


def test_unknown_scripts_are_404_pages(client: TestClient) -> None:
    page = client.get("/studio/scripts/no-such-script")
    assert page.status_code == 404 and "<html" in page.text
    assert client.get("/studio/scripts/Bad_Id").status_code == 422
    assert client.get("/studio/scripts/no-such/compilations/1/download").status_code == 404


def test_local_clients_get_a_session_without_a_key(start_api: StartApi) -> None:
    """As `/review`: with no `VSL_API_KEY`, a loopback client is served without signing in."""
    service = start_api()
    page = httpx.get(f"{service.url}/studio")
    assert page.status_code == 200 and "vsl_studio=" in page.headers.get("set-cookie", "")
    assert httpx.get(f"{service.url}/studio/static/htmx.min.js").status_code == 200


def test_a_decision_acts_on_the_take_the_page_showed(
    client: TestClient, db: Database, stored_script: Script
) -> None:
    """The page's forms name the take they show: once a newer take has arrived, a decision
    made on the older page is refused (409) and records nothing (without the take it would
    approve take 2 unseen); on the new take it counts."""
    from tests.fixtures.api import add_clip

    add_clip(db, "spring-launch", "hook")
    page = client.get("/studio/scripts/spring-launch")
    assert page.status_code == 200, page.text
    assert 'name="take" value="1"' in page.text
    csrf = token(client, "/studio/scripts/spring-launch")
    # Meanwhile another reviewer rejects take 1 and take 2 arrives: this page never showed it.
    from vsl_pipelines.services.review import apply_rejection, decide

    with db.connect() as conn:
        rejection = decide(conn, "spring-launch", "hook", "rejected", reviewer="other", take=1)
        assert apply_rejection(conn, rejection) == 2  # what the approval sensor does
        conn.commit()
    add_clip(db, "spring-launch", "hook", take=2)
    url = "/studio/scripts/spring-launch/sections/hook/approve"
    stale = client.post(url, data={"csrf": csrf, "take": "1"}, follow_redirects=False)
    assert stale.status_code == 409, stale.text
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) AS n FROM approvals").fetchone()["n"] == 1
    bad = client.post(url, data={"csrf": csrf, "take": "one"}, follow_redirects=False)
    assert bad.status_code == 422
    current = client.post(url, data={"csrf": csrf, "take": "2"}, follow_redirects=False)
    assert current.status_code == 303, current.text
    with db.connect() as conn:
        row = conn.execute("SELECT take, decision FROM approvals ORDER BY id DESC").fetchone()
    assert (row["take"], row["decision"]) == (2, "approved")


def test_a_voice_chosen_in_the_editor_is_stored_with_the_script(
    client: TestClient, db: Database
) -> None:
    """The editor offers the text-to-speech models with their voices and speed range (the
    narration is their text, so no text input is shown), and the script keeps the voice."""
    page = client.post(
        "/studio/scripts/new",
        data=editor_fields(csrf=token(client), op="refresh", **{"voice-model": "kokoro-82m"}),
    )
    assert page.status_code == 200, page.text[:500]
    assert 'id="voice-param-voice"' in page.text and 'value="bm_george"' in page.text
    assert 'id="voice-param-speed"' in page.text and 'max="5"' in page.text
    assert 'id="voice-param-text"' not in page.text
    stored = client.post(
        "/studio/scripts/new",
        data=editor_fields(
            csrf=token(client),
            **{
                "voice-model": "kokoro-82m",
                "voice-param-voice": "bm_george",
                "voice-param-speed": "1.2",
            },
        ),
        follow_redirects=False,
    )
    assert stored.status_code == 303, stored.text[:500]
    with db.connect() as conn:
        document = conn.execute("SELECT document FROM scripts").fetchone()["document"]
    assert document["voice"] == {
        "model": "kokoro-82m",
        "params": {"voice": "bm_george", "speed": 1.2},
    }


def test_a_section_s_own_voice_survives_the_editor(client: TestClient, db: Database) -> None:
    """A script imported with a section's own voice shows it in that section's fields, and
    the editor's fields store it again: nothing of the YAML is dropped on the way."""
    import yaml

    document = yaml.safe_load(
        (PROJECT_ROOT / "config" / "scripts" / "spring-launch-narrated.yaml").read_text()
    )
    document["sections"][0]["voice"] = {"model": "kokoro-82m", "params": {"voice": "bf_emma"}}
    csrf = token(client)
    page = client.post(
        "/studio/scripts/import", data={"csrf": csrf, "yaml": yaml.safe_dump(document)}
    )
    assert page.status_code == 200, page.text[:500]
    assert 'id="sections-0-voice-model"' in page.text and 'id="voice-model"' in page.text
    assert 'id="sections-1-voice-model"' not in page.text
    stored = client.post(
        "/studio/scripts/new",
        data=editor_fields(
            csrf=token(client),
            **{
                "sections-0-voice-model": "kokoro-82m",
                "sections-0-voice-param-voice": "bf_emma",
            },
        ),
        follow_redirects=False,
    )
    assert stored.status_code == 303, stored.text[:500]
    with db.connect() as conn:
        saved = conn.execute("SELECT document FROM scripts").fetchone()["document"]
    assert saved["sections"][0]["voice"] == {"model": "kokoro-82m", "params": {"voice": "bf_emma"}}


def test_transitions_are_named_as_the_editor_names_them() -> None:
    from vsl_pipelines.web.studio.forms import TRANSITIONS, transition_label

    assert transition_label("") == "Straight cut (none)"
    assert transition_label("fadeblack:0.5") == "Fade through black"
    assert transition_label("fade:1.0") == "Cross-fade (1.0 s)"
    assert transition_label("fade:lots") == "fade:lots"  # not a length: shown as stored
    assert transition_label("nosuch:0.5") == "nosuch:0.5"
    assert all(":" not in transition_label(t) for t in TRANSITIONS)
