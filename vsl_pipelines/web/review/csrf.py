"""CSRF tokens for the review page's forms: a signed double-submit token.

The page sets a random session nonce in a cookie (`HttpOnly`, `SameSite=Strict`, on the
page's path) and puts an HMAC of it, keyed by the app's secret, in every form. A post must
carry both, matching. Another site can neither read the token (no CORS) nor send the cookie
(`Strict`), and a rebound DNS name is refused before (`Host`). Origin checks come first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from fastapi import HTTPException, Request, Response

COOKIE = "vsl_review_csrf"
FIELD = "csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_PURPOSE = b"vsl review form\x00"


def app_secret(request: Request) -> bytes:
    """The key of the tokens: the app's session secret (`VSL_SESSION_SECRET`, or derived from
    the webhook secret), the same on every worker and replica, so a form served by one is
    accepted by another and across restarts."""
    secret: bytes = request.app.state.session_secret
    return secret


def session_nonce(request: Request) -> str:
    """The nonce of the reviewer's cookie, or a new one when there is none (or a malformed one)."""
    nonce = request.cookies.get(COOKIE, "")
    return nonce if _NONCE.fullmatch(nonce) else secrets.token_urlsafe(32)


def form_token(secret: bytes, nonce: str) -> str:
    """The token forms carry for `nonce`."""
    digest = hmac.new(secret, _PURPOSE + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def set_cookie(response: Response, request: Request, nonce: str, path: str) -> None:
    """Send the session nonce with the page (a session cookie on the page's path)."""
    response.set_cookie(
        COOKIE,
        nonce,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def check_form_token(request: Request, secret: bytes, token: str | None) -> None:
    """403 unless the posted `token` is the one for the cookie's nonce."""
    nonce = request.cookies.get(COOKIE, "")
    if token and _NONCE.fullmatch(nonce):
        expected = form_token(secret, nonce)
        if hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
            return
    raise HTTPException(
        403, "the form's CSRF token is missing or stale: reload the review page and decide again"
    )
