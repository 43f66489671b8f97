"""Signing in to the studio with OpenID Connect: the authorization code flow with PKCE (S256),
done by Authlib's Starlette client (discovery, state, nonce, the code exchange and the ID
token's signature and claims are its work, not ours).

A person is matched by the verified email the provider gives (lower case) against the
members of the workspaces (`vsl members add`); the subject is recorded at the first sign-in.
Someone the provider knows but no workspace has as a member is refused, and so is an email the
provider has not verified. Authlib keeps the flow's state, nonce and PKCE verifier in a signed
cookie of its own (`vsl_oidc`, on `/studio`, ten minutes) between the redirect and the
callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import Request
from starlette.responses import Response

from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import Membership
from vsl_pipelines.logs import get_logger
from vsl_pipelines.settings import OidcSettings

log = get_logger("vsl_pipelines.web.studio")

FLOW_COOKIE = "vsl_oidc"
FLOW_MAX_AGE_S = 600
SCOPES = "openid email profile"


class SignInRefused(Exception):
    """Why a person who came back from the provider cannot use the studio (safe to show)."""


@dataclass(frozen=True)
class SignedIn:
    """Who came back from the provider, and where they may work."""

    person_id: int
    email: str
    name: str | None
    memberships: list[Membership]


class OidcSignIn:
    """The studio's OpenID client, registered once per app."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._oauth = OAuth()
        self._oauth.register(
            name="studio",
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            server_metadata_url=settings.discovery_url,
            client_kwargs={"scope": SCOPES, "code_challenge_method": "S256"},
        )

    @property
    def _client(self) -> Any:
        return self._oauth.create_client("studio")

    async def redirect(self, request: Request, callback_url: str) -> Response:
        """To the provider's sign-in page (state, nonce and PKCE verifier kept by Authlib)."""
        response: Response = await self._client.authorize_redirect(request, callback_url)
        return response

    async def claims(self, request: Request) -> dict[str, Any]:
        """The validated ID token's claims of the callback (SignInRefused when the provider
        said no, or the callback is not the one this browser started)."""
        try:
            token = await self._client.authorize_access_token(request)
        except OAuthError as exc:
            raise SignInRefused(f"the sign-in did not complete ({exc.error})") from None
        userinfo: dict[str, Any] = dict(token.get("userinfo") or {})
        return userinfo


def person_for(db: Database, claims: dict[str, Any]) -> SignedIn:
    """The member these claims name, recording the sign-in; SignInRefused for an email that is
    missing, not verified, or nobody's member."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise SignInRefused("your account gives no email address")
    if claims.get("email_verified") not in (True, "true"):  # Cognito has sent both
        raise SignInRefused(f"{email} is not verified by your sign-in provider")
    with db.connect() as conn:
        person = workspace_rows.person_by_email(conn, email)
        memberships = workspace_rows.memberships_of(conn, person.id) if person else []
        if person is None or not memberships:
            raise SignInRefused(f"{email} is not a member of any workspace; ask an admin")
        name = claims.get("name")
        subject = claims.get("sub")
        workspace_rows.record_sign_in(
            conn, person.id, str(subject) if subject else None, str(name) if name else None
        )
    return SignedIn(person.id, email, person.name or (str(name) if name else None), memberships)
