"""What `/api` and `/review` handlers depend on: the service's configuration and the rules
every request meets, in this order:

1. `check_host`: the `Host` header names an allowed host (400 malformed, 421 unknown), so a
   rebound DNS name cannot reach the service from a browser, with or without a key;
2. the access rule (`require_api_key`, `require_reviewer_key`): a key (`X-API-Key`,
   `Authorization: Bearer KEY`, or for the review page HTTP Basic with the key as password)
   that is `VSL_API_KEY` or a live stored key (`vsl keys`) within its rate (429 past it);
   without any key, loopback clients only, and only while `VSL_API_KEY` is unset;
3. for state-changing requests, `refuse_cross_site`: no foreign `Origin`, no `Sec-Fetch-Site`
   but `same-origin` or `none` (403); the API also wants a JSON or YAML body (415), which no
   page can send to another site without a CORS preflight this service never answers;
4. ids in paths and queries matched whole (`script_path_id`, ...; 422 naming the parameter).

These dependencies are `async`: they do no I/O, and a worker thread each would make every
request wait its turn for threads (and the GIL) behind a large body being parsed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.cache.key_cache import KeyCache
from vsl_pipelines.cache.key_rates import KeyRates, LocalKeyRates
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id as default_workspace_id_of
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.domain.script import id_problem, section_id_problem, text_problem
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.warm_read import WarmStatusRead
from vsl_pipelines.logs import get_logger
from vsl_pipelines.services.keys import ApiKey, cached_key, verify_key
from vsl_pipelines.services.keys import digest as key_digest
from vsl_pipelines.settings import LOOPBACK_NAMES, OidcSettings
from vsl_pipelines.storage.base import MediaStore

log = get_logger("vsl_pipelines.web.access")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
BEARER_CHALLENGE = "Bearer"
BASIC_CHALLENGE = 'Basic realm="VSL review"'
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_ORIGIN_FETCHES = frozenset({"same-origin", "none"})  # `none`: typed, bookmarked
JSON_TYPE = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
# A Host header: a name (letters, digits, dots, dashes, underscores) or a bracketed IPv6
# address, then an optional port.
_HOST = re.compile(
    r"(?:\[(?P<ipv6>[0-9a-f:.]{2,45})\]|(?P<name>[a-z0-9_](?:[a-z0-9_.-]{0,252})))"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


@dataclass(frozen=True)
class ApiConfig:
    """What the API and the review page read and write; `api_key` is the access key, if any;
    `allowed_hosts` the `Host` names (without port) they answer to."""

    db: Database
    media_store: MediaStore
    registry: Registry
    # The status layers a job's document is read from and published to (PostgreSQL alone
    # when no cache is configured).
    job_status: JobStatusLayers = field(repr=False, compare=False)
    api_key: SecretStr | None = None
    allowed_hosts: frozenset[str] = LOOPBACK_NAMES
    # Verified stored keys, cached in Redis when configured (else each request reads them).
    key_cache: KeyCache | None = field(default=None, repr=False, compare=False)
    # Per-key request rates: Redis when configured (shared by every service process).
    key_rates: KeyRates = field(default_factory=LocalKeyRates, repr=False, compare=False)
    # The status read with a stored key in one Redis round trip (None without Redis).
    warm_status: WarmStatusRead | None = field(default=None, repr=False, compare=False)
    # Creates ad-hoc predictions (None: `POST /api/generate-media` answers 503).
    predictions: PredictionClient | None = field(default=None, repr=False, compare=False)
    # Origins whose pages may read the API and media (CORS, GET and HEAD only).
    cors_origins: frozenset[str] = frozenset()
    # Signs the studio's session cookies and the studio's and review page's form tokens: the
    # same on every worker and replica (`VSL_SESSION_SECRET`; None: `create_app` derives one
    # from the webhook secret).
    session_secret: bytes | None = field(default=None, repr=False, compare=False)
    # The studio's OpenID sign-in (None: the studio is signed into with an API key).
    oidc: OidcSettings | None = field(default=None, repr=False, compare=False)
    # The landing-page player: event posts a client may send a minute (429 past it, counted
    # in `key_rates`), and the viewers every cut needs before the variant report names a leader.
    events_per_minute: int = 120
    variant_min_viewers: int = 100


async def get_config(request: Request) -> ApiConfig:
    """The `ApiConfig` that `create_app` keeps in the app's state."""
    config: ApiConfig = request.app.state.api_config
    return config


ConfigDep = Annotated[ApiConfig, Depends(get_config)]


def host_name(header: str) -> str | None:
    """The host name of a `Host` header (lowercase, without port or trailing dot, an IPv6
    address without brackets), or None when the header is not one."""
    match = _HOST.fullmatch(header.strip().lower())
    if match is None:
        return None
    name = match["ipv6"] or match["name"].rstrip(".")
    return name or None


async def check_host(request: Request, config: ConfigDep) -> None:
    """400 for a missing or malformed `Host`, 421 for one not in `config.allowed_hosts`."""
    header = request.headers.get("host", "")
    name = host_name(header)
    if name is None:
        raise HTTPException(400, "missing or malformed Host header")
    if name not in config.allowed_hosts:
        log.warning("request for an unknown host refused", extra={"fields": {"host": name}})
        raise HTTPException(
            421, f"this service does not answer to the host {name!r}; see VSL_ALLOWED_HOSTS"
        )


def cross_site_problem(request: Request) -> str | None:
    """Why the request comes from another site (a page elsewhere), or None. `Origin` must name
    the request's own `Host` and port; `Sec-Fetch-Site`, when sent, must be `same-origin` or
    `none` (`same-site` too is refused: another port of this machine is the same site)."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is not None and not origin_matches_host(origin, request.headers.get("host", "")):
        return "Origin does not match Host"
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_ORIGIN_FETCHES:
        return f"Sec-Fetch-Site: {fetch_site[:40]}"
    return None


def refuse_cross_site(request: Request, what: str = "the request was sent") -> None:
    """403 when `cross_site_problem` finds one (`what` starts the message)."""
    problem = cross_site_problem(request)
    if problem is not None:
        log.warning(
            "cross-site request refused",
            extra={"fields": {"path": request.url.path[:200], "reason": problem}},
        )
        raise HTTPException(403, f"{what} from another site ({problem})")


def origin_matches_host(origin: str, host: str) -> bool:
    """Whether an `Origin` header names the same host and port as the request's `Host`."""
    try:
        sent_from = urlsplit(origin)
        sent_to = urlsplit(f"//{host}")
        if sent_from.scheme not in ("http", "https") or not sent_from.hostname:
            return False
        if not sent_to.hostname:
            return False
        default_port = 443 if sent_from.scheme == "https" else 80
        return (sent_from.hostname, sent_from.port or default_port) == (
            sent_to.hostname,
            sent_to.port or default_port,
        )
    except ValueError:  # a port that is not a number, a malformed IPv6 address
        return False


def media_type(request: Request) -> str:
    """The request's media type (`Content-Type` without parameters, lowercase; "" if none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def guard_api_writes(request: Request) -> None:
    """A state-changing API request: not from another site (403), a JSON or YAML body (415)."""
    if request.method in SAFE_METHODS:
        return
    refuse_cross_site(request)
    sent = media_type(request)
    if sent != JSON_TYPE and sent not in YAML_TYPES:
        raise HTTPException(
            415,
            f"request body: content type {sent or 'missing'!r}; send {JSON_TYPE}"
            " (or application/yaml for a script)",
        )


def id_parameter(where: str, value: str) -> str:
    """`value` if it is a script or section id, else 422 naming `where` (e.g. `path script_id`)."""
    problem = id_problem(value)
    if problem is not None:
        raise HTTPException(422, f"{where}: {value[:80]!r} {problem}")
    return value


async def script_path_id(script_id: str) -> str:
    """The `{script_id}` of a path, matched whole."""
    return id_parameter("path script_id", script_id)


def section_parameter(where: str, value: str) -> str:
    """`value` if it names a section (a variant's `hook~a` too), else 422 naming `where`."""
    problem = section_id_problem(value)
    if problem is not None:
        raise HTTPException(422, f"{where}: {value[:80]!r} {problem}")
    return value


async def section_path_id(section_id: str) -> str:
    """The `{section_id}` of a path, matched whole (a variant's `hook~a` too)."""
    return section_parameter("path section_id", section_id)


async def script_query(script: str | None = None) -> str | None:
    """`?script=`: a script id, or None when absent or empty."""
    return id_parameter("query script", script) if script else None


def text_query(where: str, value: str | None, max_chars: int) -> str | None:
    """An optional free-text query parameter: bounded, no control characters (422)."""
    if value is None:
        return None
    problem = text_problem(value, single_line=True)
    if problem is None and len(value) > max_chars:
        problem = f"longer than {max_chars} characters"
    if problem is not None:
        raise HTTPException(422, f"{where}: {problem}")
    return value


ScriptId = Annotated[str, Depends(script_path_id)]
SectionId = Annotated[str, Depends(section_path_id)]
ScriptQuery = Annotated[str | None, Depends(script_query)]


_default_ids: dict[str, int] = {}


def default_workspace_id(db: Database) -> int:
    """The `default` workspace's id (read once per database and process)."""
    found = _default_ids.get(db.url)
    if found is None:
        with db.connect() as conn:
            found = _default_ids[db.url] = default_workspace_id_of(conn)
    return found


LOCAL_ACTOR = "local operator"  # a loopback client of a service without VSL_API_KEY
BOOTSTRAP_ACTOR = "bootstrap key"  # VSL_API_KEY


class KeyRequired:
    """The access rule as a dependency. A request carrying a key (`X-API-Key`, bearer, or for
    the review page the Basic password) is served when it is the bootstrap key
    (`VSL_API_KEY`) or a live stored key within its rate (429 with `Retry-After` past it),
    else refused (401 with a challenge). A request without a key is served from loopback while
    no bootstrap key is set (403 from elsewhere), and refused with 401 once one is."""

    def __init__(self, service: str, *, accept_basic: bool) -> None:
        self.service = service
        self.accept_basic = accept_basic
        self.challenge = BASIC_CHALLENGE if accept_basic else BEARER_CHALLENGE

    async def __call__(self, request: Request, config: ConfigDep) -> None:
        presented = self.presented_key(request.headers)
        if presented is None:
            if config.api_key is not None or request.headers.get("authorization"):
                raise self.refusal()
            host = request.client.host if request.client else ""
            if host not in LOOPBACK_HOSTS:
                raise HTTPException(
                    403, f"{self.service} serves only local clients unless VSL_API_KEY is set"
                )
            request.state.actor = await self.default_admin(config, LOCAL_ACTOR)
            return
        if config.api_key is not None and hmac.compare_digest(
            presented, config.api_key.get_secret_value().encode()
        ):
            request.state.actor = await self.default_admin(config, BOOTSTRAP_ACTOR)
            return
        key = await self.stored_key(request, config, presented.decode("utf-8", "replace"))
        request.state.api_key = key
        request.state.actor = Actor(key.workspace_id, key.name, key.role, key.user_id)

    async def stored_key(self, request: Request, config: ApiConfig, presented: str) -> ApiKey:
        """The live stored key `presented` names, within its rate; else 401 or 429."""
        key = await run_in_threadpool(verify_key, config.db, presented, config.key_cache)
        if key is None:
            raise self.refusal()
        self.within_rate(
            key, config.key_rates.take(key_digest(presented).hex(), key.rate_per_minute)
        )
        return key

    @staticmethod
    def within_rate(key: ApiKey, wait_s: float | None) -> None:
        """429 with `Retry-After` when the key's request was over its rate."""
        if wait_s is not None:
            raise HTTPException(
                429,
                f"key {key.name!r} is over its rate of {key.rate_per_minute} requests a minute",
                headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
            )

    @staticmethod
    async def default_admin(config: ApiConfig, name: str) -> Actor:
        workspace_id = await run_in_threadpool(default_workspace_id, config.db)
        return Actor(workspace_id, name, Role.ADMIN, operator=True)

    def refusal(self) -> HTTPException:
        return HTTPException(
            401, "missing or wrong API key", headers={"WWW-Authenticate": self.challenge}
        )

    def presented_key(self, headers: Mapping[str, str]) -> bytes | None:
        """The key the request carries (`X-API-Key`, bearer, or Basic password), if any."""
        header_key = headers.get("x-api-key", "").strip()
        if header_key:
            return header_key.encode()
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and credentials.strip():
            return credentials.strip().encode()
        if scheme == "basic" and self.accept_basic:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            _user, colon, password = decoded.partition(b":")
            return password if colon and password else None
        return None


class StatusKeyRequired(KeyRequired):
    """The access rule of `GET /api/status/{jobId}`: the same rule, with a stored key checked,
    counted against its rate and the job's document read in one Redis round trip
    (`job_status.warm_read`); the document is left in `request.state.status_document`. A key
    Redis does not hold is verified the long way, as by `KeyRequired`."""

    async def stored_key(self, request: Request, config: ApiConfig, presented: str) -> ApiKey:
        job_id = request.path_params.get("job_id", "")
        if config.warm_status is None or not UUID_TEXT.fullmatch(job_id):
            return await super().stored_key(request, config, presented)
        wanted = key_digest(presented)
        warm = await run_in_threadpool(config.warm_status.read, wanted, job_id)
        if warm is None:
            return await super().stored_key(request, config, presented)
        key = await run_in_threadpool(cached_key, config.db, wanted, warm.key_entry)
        self.within_rate(key, warm.wait_s)
        request.state.status_document = warm.document
        return key


# A job id as `GET /api/status/{jobId}` stores it (`str(uuid.UUID(...))`: lower case, dashes);
# any other spelling is read the long way, which canonicalizes it.
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

require_api_key = KeyRequired("the API", accept_basic=False)
require_status_key = StatusKeyRequired("the API", accept_basic=False)
require_reviewer_key = KeyRequired("the review page", accept_basic=True)
