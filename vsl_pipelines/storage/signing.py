"""Signed media URLs for the local media folder: `/media/KEY?sig=TOKEN`, where the token is
itsdangerous' timestamp signature (HMAC-SHA256) of the key under the secret every process
shares (`VSL_MEDIA_SECRET`), valid for `max_age_s`. A URL without it, with another key's, or
past its age is refused by `GET /media` (S3 URLs are presigned by S3 instead).
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

SALT = "vsl media url"
DEFAULT_MAX_AGE_S = 3600  # as long as Replicate keeps an output; inputs are fetched at once


class MediaUrlSigner:
    def __init__(self, secret: bytes | str, max_age_s: int = DEFAULT_MAX_AGE_S) -> None:
        self._signer = TimestampSigner(secret, salt=SALT, digest_method=hashlib.sha256)
        self.max_age_s = max_age_s

    def token(self, key: str) -> str:
        """The `sig` of a URL for `key`, from now."""
        raw = key.encode("utf-8", "surrogatepass")
        return self._signer.sign(raw)[len(raw) + 1 :].decode()  # the key is in the path

    def problem(self, key: str, token: str | None) -> str | None:
        """Why `token` does not open `key` now (missing, expired, not this key's), or None."""
        if not token:
            return "this media URL is not signed; use the URL the API or the studio gave"
        try:
            raw = key.encode("utf-8", "surrogatepass")
            self._signer.unsign(raw + b"." + token.encode(), max_age=self.max_age_s)
        except SignatureExpired:
            return "this media URL has expired; ask the API or the studio for a new one"
        except BadSignature:
            return "this media URL's signature is not valid for this file"
        return None
