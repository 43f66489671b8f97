"""The local OpenID provider speaks the real protocol over real HTTP: discovery, the authorization
code flow with PKCE driven by Authlib's client and a cookie-keeping httpx "browser" through the
provider's login and consent pages, the ID token checked against the provider's JWKS (signature,
issuer, audience, nonce), sign-out, and what it refuses: a wrong password, a token request without
the PKCE verifier or with another one, an authorization request without a code challenge."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from tests.fixtures.oidc import (
    OIDC_CLIENT,
    OIDC_PEOPLE,
    OIDC_REDIRECT_URI,
    log_in,
    submit,
    walk,
)
from vsl_pipelines.cli.local_oidc import (
    LocalOidcProvider,
    LocalPerson,
    OidcClient,
    OidcProviderError,
)

with warnings.catch_warnings():
    # Authlib 1.9 warns that it falls back to httpx when the httpx2 fork is not installed.
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

ADA, BEN, CY = OIDC_PEOPLE


@dataclass
class Authorization:
    """One authorization request as the studio would make it: the URL and what it must keep."""

    url: str
    state: str
    code_verifier: str
    nonce: str


@pytest.fixture(scope="module")
def metadata(oidc_provider: LocalOidcProvider) -> dict[str, Any]:
    response = httpx.get(oidc_provider.discovery_url)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def client() -> Iterator[OAuth2Client]:
    with OAuth2Client(
        client_id=OIDC_CLIENT.client_id,
        client_secret=OIDC_CLIENT.client_secret,
        scope="openid email profile",
        redirect_uri=OIDC_REDIRECT_URI,
        code_challenge_method="S256",
    ) as oauth:
        yield oauth


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        yield http


def authorize(client: OAuth2Client, metadata: dict[str, Any], **params: str) -> Authorization:
    code_verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce, **params
    )
    return Authorization(url, state, code_verifier, nonce)


def sign_in(browser: httpx.Client, request: Authorization, person: LocalPerson) -> str:
    """The user's side of an authorization request, from its URL to the callback URL."""
    return log_in(browser, walk(browser, browser.get(request.url)), person)


def exchange(
    client: OAuth2Client, metadata: dict[str, Any], request: Authorization, callback: str
) -> dict[str, Any]:
    """The tokens for the code in `callback`, with the request's state and PKCE verifier."""
    return client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=request.state,
        code_verifier=request.code_verifier,
    )


def id_token_claims(
    metadata: dict[str, Any], token: dict[str, Any], *, nonce: str, client_id: str
) -> CodeIDToken:
    """The ID token checked as a relying party must: its signature against the provider's JWKS,
    then the OpenID claims (issuer, audience, expiry, nonce, at_hash) with Authlib."""
    jwks = httpx.get(metadata["jwks_uri"]).json()
    decoded = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(jwks),
        algorithms=metadata["id_token_signing_alg_values_supported"],
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    return claims


def test_discovery_document_describes_a_code_flow_with_pkce(
    oidc_provider: LocalOidcProvider, metadata: dict[str, Any]
) -> None:
    issuer = oidc_provider.issuer
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", issuer)
    assert metadata["issuer"] == issuer
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        assert metadata[endpoint].startswith(f"{issuer}/"), endpoint
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    assert {"sub", "email", "email_verified", "name"} <= set(metadata["claims_supported"])
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True

    keys = httpx.get(metadata["jwks_uri"]).json()["keys"]
    assert [key["kty"] for key in keys] == ["RSA"]
    assert not {"d", "p", "q"} & keys[0].keys(), "the JWKS must publish public keys only"


def test_sign_in_with_code_and_pkce_gives_a_valid_id_token(
    client: OAuth2Client, browser: httpx.Client, metadata: dict[str, Any]
) -> None:
    request = authorize(client, metadata)
    assert "code_challenge_method=S256" in request.url

    callback = sign_in(browser, request, ADA)
    returned = parse_qs(urlsplit(callback).query)
    assert returned["state"] == [request.state]
    assert returned["iss"] == [metadata["issuer"]]  # RFC 9207: the response names its issuer

    token = exchange(client, metadata, request, callback)
    assert token["token_type"].lower() == "bearer"
    claims = id_token_claims(metadata, token, nonce=request.nonce, client_id=OIDC_CLIENT.client_id)
    assert claims["sub"] == "ada"
    assert claims["email"] == ADA.email
    assert claims["email_verified"] is True
    assert claims["name"] == "Ada Reviewer"
    assert claims["nonce"] == request.nonce

    # The same token is refused when the checks do not hold: another nonce, another audience.
    with pytest.raises(InvalidClaimError):
        id_token_claims(metadata, token, nonce="another-nonce", client_id=OIDC_CLIENT.client_id)
    with pytest.raises(InvalidClaimError):
        id_token_claims(metadata, token, nonce=request.nonce, client_id="another-client")

    userinfo = client.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == "ada" and userinfo["email"] == ADA.email


def test_each_person_signs_in_as_themselves(client: OAuth2Client, metadata: dict[str, Any]) -> None:
    subjects = set()
    for person in (BEN, CY):
        with httpx.Client(follow_redirects=False, timeout=10) as browser:  # a browser each
            request = authorize(client, metadata)
            callback = sign_in(browser, request, person)
        token = exchange(client, metadata, request, callback)
        claims = id_token_claims(
            metadata, token, nonce=request.nonce, client_id=OIDC_CLIENT.client_id
        )
        assert claims["email"] == person.email
        assert claims["email_verified"] is person.email_verified
        assert claims["name"] == (person.name or person.email.split("@")[0])
        subjects.add(claims["sub"])
    assert len(subjects) == 2 and "ada" not in subjects


def test_a_signed_in_browser_is_not_asked_again(
    client: OAuth2Client, browser: httpx.Client, metadata: dict[str, Any]
) -> None:
    sign_in(browser, authorize(client, metadata), ADA)
    again = walk(browser, browser.get(authorize(client, metadata).url))
    assert again.callback is not None, "the provider's session and grant should be reused"


def test_signing_out_ends_the_providers_session(
    client: OAuth2Client, browser: httpx.Client, metadata: dict[str, Any]
) -> None:
    request = authorize(client, metadata)
    callback = sign_in(browser, request, ADA)
    token = exchange(client, metadata, request, callback)
    (after_logout,) = OIDC_CLIENT.post_logout_redirect_uris
    end = browser.get(
        metadata["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": after_logout,
            "state": "bye",
        },
    )
    confirm = walk(browser, end)
    assert confirm.title == "Sign out"
    back = submit(browser, confirm, {"logout": "yes"})
    assert back.callback == f"{after_logout}?state=bye"

    page = walk(browser, browser.get(authorize(client, metadata).url))
    assert page.title == "Sign in", "signed out: the next request asks for the password again"


def test_a_wrong_password_shows_the_form_again_and_issues_no_code(
    client: OAuth2Client, browser: httpx.Client, metadata: dict[str, Any]
) -> None:
    request = authorize(client, metadata)
    login = walk(browser, browser.get(request.url))
    for email, password in ((ADA.email, "not-adas-password"), ("nobody@example.test", "x")):
        refused = submit(browser, login, {"email": email, "password": password})
        assert refused.callback is None
        assert refused.response.status_code == 200
        assert refused.title == "Sign in"
        assert "Wrong email or password." in refused.response.text
        assert "code=" not in refused.response.headers.get("location", "")
    assert not [c for c in browser.cookies.jar if c.name.startswith("_session")]

    # The interaction is still at its login step, and the right password then goes through.
    again = walk(browser, browser.get(login.response.url))
    assert again.title == "Sign in"
    callback = log_in(browser, again, ADA)
    assert parse_qs(urlsplit(callback).query)["state"] == [request.state]


def test_the_code_needs_its_pkce_verifier(
    client: OAuth2Client, browser: httpx.Client, metadata: dict[str, Any]
) -> None:
    request = authorize(client, metadata)
    callback = sign_in(browser, request, ADA)

    with pytest.raises(OAuthError) as missing:
        client.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, state=request.state
        )
    assert missing.value.error == "invalid_grant"

    with pytest.raises(OAuthError) as wrong:
        client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            state=request.state,
            code_verifier=generate_token(48),
        )
    assert wrong.value.error == "invalid_grant"


def test_an_authorization_request_without_a_code_challenge_is_refused(
    client: OAuth2Client, browser: httpx.Client, metadata: dict[str, Any]
) -> None:
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], nonce=generate_token(20)
    )
    assert "code_challenge" not in url
    page = walk(browser, browser.get(url))
    assert page.callback is not None, "the error goes back to the app"
    returned = parse_qs(urlsplit(page.callback).query)
    assert returned["error"] == ["invalid_request"]
    assert "code" not in returned and returned["state"] == [state]


def test_the_provider_stops_and_says_why_it_cannot_start(tmp_path: Path) -> None:
    client = OidcClient("c", "secret", ("http://127.0.0.1:9/cb",))
    person = LocalPerson("a@example.test", "pw")

    provider = LocalOidcProvider(clients=[client], people=[person])
    with provider:
        process = provider._process
        assert process is not None and process.poll() is None
        assert httpx.get(provider.discovery_url).json()["issuer"] == provider.issuer
    assert process.wait(timeout=5) == 0  # SIGTERM: a clean exit
    with pytest.raises(OidcProviderError, match="not running"):
        _ = provider.issuer

    with pytest.raises(OidcProviderError, match="make setup"):
        LocalOidcProvider(clients=[client], people=[person], server_dir=tmp_path).start()
    with pytest.raises(OidcProviderError, match="Node.js"):
        LocalOidcProvider(clients=[client], people=[person], node="no-such-node").start()
    with pytest.raises(OidcProviderError, match="must list at least one client"):
        LocalOidcProvider(clients=[], people=[person]).start()


def test_the_provider_exits_with_its_parent_stdin() -> None:
    """The child never outlives the process that started it: closing its stdin stops it."""
    client = OidcClient("c", "secret", ("http://127.0.0.1:9/cb",))
    provider = LocalOidcProvider(clients=[client], people=[]).start()
    try:
        process = provider._process
        assert process is not None and process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=5) == 0
    finally:
        provider.stop()  # after the exit: harmless
