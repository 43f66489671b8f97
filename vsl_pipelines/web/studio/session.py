"""Who is using the studio: a sign-in with an API key, then a signed session cookie, and the
CSRF token every studio form carries.

The cookie (`vsl_studio`, on `/studio`, HttpOnly, SameSite=Lax, Secure over https) holds the
key's SHA-256 digest, never the key, and a random nonce, signed with itsdangerous under the
session secret every worker and replica shares (`VSL_SESSION_SECRET`, or one derived from the
webhook secret), so any replica reads any session. A stored key is looked up again by digest on
each request (through the key cache), so revoking it ends its sessions; the bootstrap key's
sessions end when `VSL_API_KEY` changes. Form tokens are an HMAC of the nonce, as the review
page's (`review.csrf`). Without `VSL_API_KEY`, loopback clients get a local session unasked,
as `/review` serves them without a key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import Membership
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.services.keys import digest, verify_digest, verify_key
from vsl_pipelines.web.deps import (
    BOOTSTRAP_ACTOR,
    LOCAL_ACTOR,
    LOOPBACK_HOSTS,
    ApiConfig,
    default_workspace_id,
)
from vsl_pipelines.web.review import csrf

COOKIE = "vsl_studio"
COOKIE_PATH = "/studio"
FIELD = "csrf"
MAX_AGE_S = 12 * 3600
BOOTSTRAP = "bootstrap"
LOCAL = "local"
_SALT = "vsl studio session"


def derive_session_secret(webhook_secret: str) -> bytes:
    """The session secret when none is configured: every replica has the webhook secret."""
    return hmac.new(webhook_secret.encode(), b"vsl studio session\x00", hashlib.sha256).digest()


@dataclass(frozen=True)
class StudioSession:
    """A signed-in user: who (the key's name, `bootstrap` or `local`), as which actor (the
    workspace and role the authorization rule checks) and the form token."""

    who: str
    nonce: str
    csrf_token: str
    actor: Actor
    # A person's workspaces (signed in with OpenID Connect), to switch between; a key's
    # session has its one workspace and none here.
    memberships: tuple[Membership, ...] = ()

    @property
    def workspace(self) -> Membership | None:
        """The person's current workspace, by membership."""
        return next(
            (m for m in self.memberships if m.workspace_id == self.actor.workspace_id), None
        )


def _serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def _bootstrap_mark(config: ApiConfig, secret: bytes) -> str:
    """Ties a bootstrap session to the current `VSL_API_KEY` without holding it."""
    assert config.api_key is not None
    key = config.api_key.get_secret_value().encode()
    return hmac.new(secret, b"bootstrap\x00" + key, hashlib.sha256).hexdigest()


def _session(
    secret: bytes, who: str, nonce: str, actor: Actor, memberships: tuple[Membership, ...] = ()
) -> StudioSession:
    return StudioSession(who, nonce, csrf.form_token(secret, nonce), actor, memberships)


def person_session(person_id: int, email: str, workspace_id: int) -> dict[str, Any]:
    """The cookie's content for a person signed in with OpenID Connect, in a workspace."""
    return {
        "who": email,
        "person": person_id,
        "workspace": workspace_id,
        "nonce": secrets.token_urlsafe(32),
    }


def session_secret(request: Request) -> bytes:
    """The secret `create_app` keeps in the app's state."""
    secret: bytes = request.app.state.session_secret
    return secret


async def sign_in(config: ApiConfig, secret: bytes, presented: str) -> dict[str, Any] | None:
    """The cookie's content for a valid key (the bootstrap or a live stored one), else None."""
    nonce = secrets.token_urlsafe(32)
    if config.api_key is not None and hmac.compare_digest(
        presented.encode(), config.api_key.get_secret_value().encode()
    ):
        return {"who": BOOTSTRAP, "mark": _bootstrap_mark(config, secret), "nonce": nonce}
    key = await run_in_threadpool(verify_key, config.db, presented, config.key_cache)
    if key is None:
        return None
    return {"who": key.name, "digest": digest(presented).hex(), "nonce": nonce}


def set_cookie(response: Response, request: Request, content: dict[str, Any]) -> None:
    response.set_cookie(
        COOKIE,
        _serializer(session_secret(request)).dumps(content),
        max_age=MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


async def current_session(request: Request, config: ApiConfig) -> StudioSession | None:
    """The request's session: its valid cookie, or a local one for a loopback client while no
    bootstrap key is set; None when the user must sign in."""
    secret = session_secret(request)
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            content = _serializer(secret).loads(raw, max_age=MAX_AGE_S)
        except BadSignature:  # SignatureExpired is one
            content = None
        if isinstance(content, dict) and isinstance(content.get("person"), int):
            return await _person_session(config, secret, content)
        actor = await _actor(config, secret, content) if isinstance(content, dict) else None
        if actor is not None:
            return _session(secret, str(content["who"]), str(content["nonce"]), actor)
    if (
        config.api_key is None
        and config.oidc is None  # with a sign-in provider, everyone signs in
        and request.client
        and request.client.host in LOOPBACK_HOSTS
    ):
        issue = {"who": LOCAL, "nonce": secrets.token_urlsafe(32)}
        request.state.studio_issue = issue  # the page sends it as the session cookie
        return _session(secret, LOCAL, issue["nonce"], await _default_admin(config, LOCAL_ACTOR))
    return None


async def _person_session(
    config: ApiConfig, secret: bytes, content: dict[str, Any]
) -> StudioSession | None:
    """A person's session while they are still a member of its workspace (their role as it is
    now: a change or a removal holds at the next request)."""
    if config.oidc is None or not isinstance(content.get("nonce"), str):
        return None
    memberships = tuple(await run_in_threadpool(_memberships, config.db, int(content["person"])))
    current = next((m for m in memberships if m.workspace_id == content.get("workspace")), None)
    if current is None:
        return None
    actor = Actor(current.workspace_id, current.email, Role(current.role))
    return _session(secret, current.email, str(content["nonce"]), actor, memberships)


def _memberships(db: Database, person_id: int) -> list[Membership]:
    with db.connect() as conn:
        return workspace_rows.memberships_of(conn, person_id)


async def _default_admin(config: ApiConfig, name: str) -> Actor:
    workspace_id = await run_in_threadpool(default_workspace_id, config.db)
    return Actor(workspace_id, name, Role.ADMIN, operator=True)


async def _actor(config: ApiConfig, secret: bytes, content: dict[str, Any]) -> Actor | None:
    """Who a still valid session acts as; None for one no longer valid (its key revoked, the
    bootstrap key changed, a local session once a key is required)."""
    if not isinstance(content.get("nonce"), str):
        return None
    who = content.get("who")
    if who == LOCAL:
        return await _default_admin(config, LOCAL_ACTOR) if config.api_key is None else None
    if who == BOOTSTRAP:
        valid = config.api_key is not None and hmac.compare_digest(
            str(content.get("mark", "")), _bootstrap_mark(config, secret)
        )
        return await _default_admin(config, BOOTSTRAP_ACTOR) if valid else None
    try:
        wanted = bytes.fromhex(str(content.get("digest", "")))
    except ValueError:
        return None
    key = await run_in_threadpool(verify_digest, config.db, wanted, config.key_cache)
    if key is None or key.name != who:
        return None
    return Actor(key.workspace_id, key.name, key.role, key.user_id)


def check_form_token(session: StudioSession, token: str | None) -> None:
    """403 unless the posted token is the session's."""
    if token and hmac.compare_digest(session.csrf_token.encode(), token.encode("utf-8", "replace")):
        return
    raise HTTPException(
        403, "the form's CSRF token is missing or stale: reload the page and try again"
    )


async def require_session(request: Request) -> StudioSession:
    """The studio's access rule: a session, else 401 (pages turn it into the sign-in page)."""
    found = await current_session(request, request.app.state.api_config)
    if found is None:
        raise HTTPException(401, "sign in with an API key to use the studio")
    request.state.studio_session = found
    return found
