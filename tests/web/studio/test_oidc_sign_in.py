"""Signing in to the studio through a real OpenID provider (devtools/oidc, started locally),
in Chromium: a person sees only their workspaces' scripts, switches between their workspaces,
decides as themselves (their email on the page and in the audit log); an unverified email, a
non-member and an API key at the studio's door are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.fixtures.api import add_clip
from tests.fixtures.service import free_port
from vsl_pipelines.cli.local_oidc import LocalOidcProvider, LocalPerson, OidcClient
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import Script
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import create_workspace, set_member
from vsl_pipelines.settings import OidcSettings
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.server import RunningService, start_service_in_thread

pytestmark = pytest.mark.browser

ADA = LocalPerson("ada@example.test", "ada-pass-1", name="Ada Reviewer", sub="ada")
BEN = LocalPerson("ben@example.test", "ben-pass-2", name="Ben Writer", sub="ben")
CY = LocalPerson("cy@example.test", "cy-pass-3", email_verified=False, sub="cy")
DAN = LocalPerson("dan@example.test", "dan-pass-4", name="Dan Outsider", sub="dan")
EVE = LocalPerson("eve@example.test", "eve-pass-5", name="Eve Admin", sub="eve")


@dataclass(frozen=True)
class OidcStudio:
    url: str
    db: Database
    admin_key: str  # an admin key of acme, to read its audit log


@pytest.fixture
def oidc_studio(
    db: Database,
    inbox: PostgresInbox,
    webhook_secret: str,
    service_media_root: Path,
    registry: Registry,
    sample_script: Script,
) -> Iterator[OidcStudio]:
    with db.connect() as conn:
        acme = create_workspace(conn, "acme", "Acme", None, "test")
        globex = create_workspace(conn, "globex", "Globex", None, "test")
        set_member(conn, acme, ADA.email, Role.REVIEWER, "test")
        set_member(conn, globex, ADA.email, Role.VIEWER, "test")
        set_member(conn, globex, BEN.email, Role.WRITER, "test")
        set_member(conn, acme, CY.email, Role.ADMIN, "test")  # but not verified
        set_member(conn, acme, EVE.email, Role.ADMIN, "test")
        insert_script(conn, sample_script.model_copy(update={"id": "acme-launch"}), None, acme.id)
        insert_script(
            conn, sample_script.model_copy(update={"id": "globex-launch"}), None, globex.id
        )
    for section in ("hook", "offer", "close"):
        add_clip(db, "acme-launch", section)
    _, admin_key = create_key(db, "acme-admin", workspace="acme", role=Role.ADMIN)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = OidcClient(
        "vsl-studio", "studio-secret", (f"{url}/studio/auth/callback",), (f"{url}/studio",)
    )
    with LocalOidcProvider(clients=[client], people=[ADA, BEN, CY, DAN, EVE]) as provider:
        config = ApiConfig(
            db=db,
            job_status=JobStatusLayers(db),
            media_store=LocalMediaStore(service_media_root, f"{url}/media"),
            registry=registry,
            api_key=SecretStr("bootstrap-oidc-key"),
            oidc=OidcSettings(provider.issuer, client.client_id, SecretStr(client.client_secret)),
        )
        service: RunningService = start_service_in_thread(
            create_app(inbox, webhook_secret, service_media_root, api=config), port=port
        )
        try:
            yield OidcStudio(url, db, admin_key)
        finally:
            service.stop()


@pytest.fixture(scope="module")
def browser(chromium_browser: Any) -> Any:
    """The module's Chromium (tests/fixtures/chromium.py)."""
    return chromium_browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def through_the_provider(page: Any, studio: OidcStudio, person: LocalPerson) -> None:
    """From the studio's sign-in page through the provider's login and consent (the browser
    is then on its way back to the studio)."""
    page.goto(f"{studio.url}/studio")
    assert "/studio/sign-in" in page.url
    assert page.get_by_label("API key").count() == 0, "no key sign-in beside the provider"
    page.get_by_role("link", name="Sign in with your account").click()
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    if page.get_by_role("button", name="Allow").count():
        page.get_by_role("button", name="Allow").click()


def sign_in(page: Any, studio: OidcStudio, person: LocalPerson) -> None:
    """From the studio to the provider's login and consent, and back."""
    through_the_provider(page, studio, person)
    page.wait_for_url(re.compile(rf"^{re.escape(studio.url)}/studio"))


def test_a_person_signs_in_sees_their_workspaces_and_decides_as_themselves(
    page: Any, oidc_studio: OidcStudio
) -> None:
    sign_in(page, oidc_studio, ADA)
    assert page.url == f"{oidc_studio.url}/studio"
    body = page.locator("main").inner_text()
    assert "acme-launch" in body and "globex-launch" not in body
    options = page.locator("#workspace option").all_inner_texts()
    assert options == ["Acme (reviewer)", "Globex (viewer)"]
    assert ADA.email in page.locator("header").inner_text()

    # Ada reviews in acme: her approval is recorded as her.
    page.goto(f"{oidc_studio.url}/studio/scripts/acme-launch")
    section = page.locator("#section-hook")
    section.get_by_role("button", name="Approve").first.click()
    page.wait_for_url(re.compile(r"/studio/scripts/acme-launch"))
    assert f"by {ADA.email}" in page.locator("#section-hook").inner_text()
    audit = httpx.get(
        f"{oidc_studio.url}/api/audit", headers={"x-api-key": oidc_studio.admin_key}, timeout=10
    ).json()
    decided = [e for e in audit if e["action"] == "decision.approved"]
    assert [(e["actor"], e["object"]) for e in decided] == [(ADA.email, "script:acme-launch/hook")]

    # In globex she is a viewer: globex's script shows; acme's is hidden (404).
    page.locator("#workspace").select_option("globex")
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(f"{oidc_studio.url}/studio")
    body = page.locator("main").inner_text()
    assert "globex-launch" in body and "acme-launch" not in body
    hidden = page.goto(f"{oidc_studio.url}/studio/scripts/acme-launch")
    assert hidden is not None and hidden.status == 404


def test_unverified_emails_and_non_members_are_refused(page: Any, oidc_studio: OidcStudio) -> None:
    for person, reason in ((CY, "is not verified"), (DAN, "is not a member of any workspace")):
        page.context.clear_cookies()  # signed out of the provider too
        through_the_provider(page, oidc_studio, person)
        page.wait_for_url(re.compile(r"/studio/auth/callback"))
        assert reason in page.locator("main").inner_text()
        assert page.goto(f"{oidc_studio.url}/studio/scripts/new") is not None
        assert "/studio/sign-in" in page.url, "nothing was signed in"


def test_an_api_key_does_not_open_the_studio_with_a_provider(oidc_studio: OidcStudio) -> None:
    refused = httpx.post(
        f"{oidc_studio.url}/studio/sign-in",
        data={"key": oidc_studio.admin_key},
        headers={"origin": oidc_studio.url},
        timeout=10,
    )
    assert refused.status_code == 403
    assert "with your account" in refused.text


def test_an_admin_manages_members_keys_and_budget_and_reads_the_audit(
    page: Any, oidc_studio: OidcStudio
) -> None:
    sign_in(page, oidc_studio, EVE)
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(f"{oidc_studio.url}/studio/admin")

    page.get_by_label("Email").fill(BEN.email)
    page.locator("#member-role").select_option("viewer")
    page.get_by_role("button", name="Add or change").click()
    assert BEN.email in page.locator("#members").inner_text()

    page.get_by_label("Name", exact=True).fill("crm")
    page.locator("#key-role").select_option("reviewer")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key-value").inner_text().strip()
    assert key.startswith("vsl_")
    page.reload()
    assert page.locator("#new-key").count() == 0, "a new key is shown once"
    listed = httpx.get(f"{oidc_studio.url}/api/scripts", headers={"x-api-key": key}, timeout=10)
    assert [s["script_id"] for s in listed.json()] == ["acme-launch"]
    page.get_by_role("button", name="revoke crm").click()
    page.wait_for_url(re.compile(r"/studio/admin"))
    gone = httpx.get(f"{oidc_studio.url}/api/scripts", headers={"x-api-key": key}, timeout=10)
    assert gone.status_code == 401

    page.get_by_label("Monthly budget").fill("250")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/studio/admin"))
    assert "of $250.00 a month" in page.locator("#budget").inner_text()
    page.get_by_label("Monthly budget").fill("lots")
    page.get_by_role("button", name="Save").click()
    assert "a number of USD" in page.locator("main").inner_text()

    log = page.locator("#audit").inner_text()
    for action in ("member.added", "key.created", "key.revoked", "budget.changed"):
        assert f"{EVE.email}\t{action}" in log, log[:800]


def test_the_admin_page_is_the_admins(page: Any, oidc_studio: OidcStudio) -> None:
    sign_in(page, oidc_studio, ADA)  # a reviewer of acme
    assert page.get_by_role("link", name="Admin").count() == 0
    refused = page.goto(f"{oidc_studio.url}/studio/admin")
    assert refused is not None and refused.status == 403
    assert "needs the admin role" in page.locator("main").inner_text()
