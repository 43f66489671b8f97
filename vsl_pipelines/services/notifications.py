"""Notifications to a workspace's webhook: decisions waiting for a person once a batch of takes
lands, a video ready once its compile succeeded. Sent from the Dagster runs where these happen
(the collecting assets, `compiled_video`) as a Slack-compatible JSON POST (a `text`, plus
structured fields for other receivers); retried briefly, never failing the run, and logged
with the URL's host only, since its path is a secret (Slack's carries the token). Each delivery
resolves the host once, and connects to the address that passed the internal-host check, so a
name moved between the check and the connection (DNS rebinding) reaches nothing inside.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from vsl_pipelines.db import audit
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.connection import Conn
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.script_activity import ScriptActivity, script_activity
from vsl_pipelines.db.workspaces import WorkspaceRow
from vsl_pipelines.logs import get_logger
from vsl_pipelines.settings import get_settings

if TYPE_CHECKING:
    import httpx

log = get_logger(__name__)
MAX_URL_CHARS = 2048
ATTEMPTS = 3
TIMEOUT_S = 5.0
BACKOFF_S = 0.5  # then doubled; a Retry-After is honoured up to MAX_WAIT_S
MAX_WAIT_S = 5.0
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
DECISIONS_WAITING = "decisions_waiting"
VIDEO_READY = "video_ready"


class NotificationRefused(ValueError):
    """A notification URL that cannot be used; the message is safe to show."""


# Names that always mean this machine or a cloud's instance metadata, whatever DNS says.
INTERNAL_NAMES = ("localhost", "metadata.google.internal", "metadata")
INTERNAL_SUFFIXES = (".localhost", ".internal", ".local")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def internal_hosts_allowed() -> bool:
    """Whether notification URLs may name internal addresses (`VSL_NOTIFY_INTERNAL_HOSTS`)."""
    return get_settings().notify_internal_hosts


def internal_address(address: IpAddress) -> bool:
    """Loopback, private, link-local (the 169.254.169.254 metadata service), shared, multicast,
    reserved or unspecified: an address a notification must not reach from inside."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


Resolver = Callable[[str], list[str]]  # a host name -> its addresses, in the resolver's order


def system_resolver(name: str) -> list[str]:
    """The addresses the system's resolver gives `name` for TCP, in its order (raises OSError
    or UnicodeError when it gives none)."""
    found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


class HostRefused(ValueError):
    """A host a notification may not reach; the message names the host, never the URL."""


@dataclass(frozen=True)
class AddressGuard:
    """Which hosts a notification may reach: a name is resolved once by `resolve`, and refused
    when `refuses` flags any of its addresses (or the name itself is internal); a delivery then
    connects to the first address, never asking the resolver again."""

    resolve: Resolver = system_resolver
    refuses: Callable[[IpAddress], bool] = internal_address

    def problem(self, host: str, *, resolve: bool = True) -> str | None:
        """Why `host` may not be reached (None: it may, or with `resolve` False, not by its
        name). A name that does not resolve is no problem here: the delivery finds it then."""
        try:
            self.addresses(host, resolve=resolve)
        except HostRefused as refused:
            return str(refused)
        except (OSError, UnicodeError):
            return None
        return None

    def addresses(self, host: str, *, resolve: bool = True) -> list[IpAddress]:
        """The addresses `host` may be reached at (a literal: itself; with `resolve` False, a
        name has none), raising HostRefused when it may not be, OSError when it does not
        resolve."""
        name = host.lower().rstrip(".")
        literal = _literal(name)
        if literal is not None:
            if self.refuses(literal):
                raise HostRefused(f"{host} is an internal address")
            return [literal]
        if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES):
            raise HostRefused(f"{host} is an internal name")
        if not resolve:
            return []
        found = [a for a in map(_literal, self.resolve(name)) if a is not None]
        if not found:
            raise OSError(f"{host} does not resolve")
        if any(self.refuses(address) for address in found):
            raise HostRefused(f"{host} resolves to an internal address")
        return found


def internal_host_problem(host: str, *, resolve: bool) -> str | None:
    """Why `host` is internal (None: it is not, or with `resolve` False, not by its name): an
    internal address or name, or with `resolve` a name any of whose addresses is internal.
    A name that does not resolve is no problem here: the delivery finds it then."""
    return AddressGuard().problem(host, resolve=resolve)


def check_webhook_url(text: str, *, allow_internal: bool | None = None) -> str:
    """The URL to POST notifications to: http(s) with a host, at most 2,048 characters, and
    unless internal hosts are allowed (`VSL_NOTIFY_INTERNAL_HOSTS`), none that is or resolves
    to a loopback, private, link-local or metadata address."""
    url = text.strip()
    if len(url) > MAX_URL_CHARS:
        raise NotificationRefused(f"notification URL: at most {MAX_URL_CHARS} characters")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise NotificationRefused("notification URL: no spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise NotificationRefused("notification URL: not a URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise NotificationRefused(
            "notification URL: must start with https:// (or http://); it receives a JSON POST"
        )
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise NotificationRefused("notification URL: the port is not a number") from None
    if not parts.hostname:
        raise NotificationRefused("notification URL: it names no host")
    if not (internal_hosts_allowed() if allow_internal is None else allow_internal):
        problem = internal_host_problem(parts.hostname, resolve=True)
        if problem:
            raise NotificationRefused(
                f"notification URL: {problem}; notifications go to public receivers only"
            )
    return url


def url_host(url: str) -> str:
    """What of a notification URL may be logged or shown: its host (and port)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def set_notification_url(conn: Conn, workspace: WorkspaceRow, text: str, actor: str) -> None:
    """Set (or, given an empty text, remove) the workspace's notification URL; the audit log
    records its host, never the URL."""
    url = check_webhook_url(text) if text.strip() else None
    workspace_rows.set_notification_url(conn, workspace.id, url, actor)
    audit.record(
        conn,
        workspace.id,
        actor,
        "notifications.changed",
        f"workspace:{workspace.slug}",
        {"host": url_host(url) if url else None},
    )


@dataclass(frozen=True)
class StudioLinks:
    """Links into the studio from outside it (notifications, Dagster's metadata): `base` is
    the service's public URL."""

    base: str

    @classmethod
    def from_media_url(cls, public_media_url: str) -> StudioLinks:
        """The links of the service whose `/media` route is published at `public_media_url`
        (`VSL_MEDIA_URL`: the service's public URL and `/media`, as every deployment sets
        it); another URL gives its origin."""
        url = public_media_url.rstrip("/")
        if url.endswith("/media"):
            return cls(url.removesuffix("/media"))
        parts = urlsplit(url)
        return cls(f"{parts.scheme}://{parts.netloc}")

    def script(self, script_id: str) -> str:
        return f"{self.base}/studio/scripts/{quote(script_id, safe='')}"

    def download(self, script_id: str, compilation_id: int) -> str:
        return f"{self.script(script_id)}/compilations/{compilation_id}/download"


@dataclass(frozen=True)
class Notice:
    """What a notification says: `text` (what Slack shows) and the structured fields."""

    event: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "event": self.event, **self.fields}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def decisions_waiting_notice(
    activity: ScriptActivity, workspace: str, links: StudioLinks
) -> Notice | None:
    """Decisions waiting on a script (None when none is)."""
    pending = activity.pending_decisions
    if pending <= 0:
        return None
    url = links.script(activity.id)
    return Notice(
        DECISIONS_WAITING,
        f"{_plural(pending, 'decision')} waiting for review on “{activity.title}”: {url}",
        {
            "workspace": workspace,
            "script": {"id": activity.id, "title": activity.title},
            "pending_decisions": pending,
            "url": url,
        },
    )


def video_ready_notice(
    activity: ScriptActivity,
    workspace: str,
    links: StudioLinks,
    compilation_id: int,
    output_format: str,
    duration_s: float,
) -> Notice:
    url = links.script(activity.id)
    return Notice(
        VIDEO_READY,
        f"The video of “{activity.title}” is ready ({output_format}, {duration_s:.1f} s): {url}",
        {
            "workspace": workspace,
            "script": {"id": activity.id, "title": activity.title},
            "compilation": {
                "id": compilation_id,
                "format": output_format,
                "duration_s": round(duration_s, 3),
            },
            "url": url,
            "download_url": links.download(activity.id, compilation_id),
        },
    )


@dataclass(frozen=True)
class Delivery:
    """How a notification went: delivered (`ok`), after how many attempts, the receiver's
    last status (None: no answer) and the error (without the URL)."""

    host: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"sent to {self.host}"
        return f"not delivered to {self.host} after {self.attempts} attempt(s): {self.error}"


class _RetryAfterOrBackoff:
    """The wait before the next attempt: the receiver's Retry-After (whole seconds), else
    `backoff_s` doubled at each attempt; either at most MAX_WAIT_S."""

    def __init__(self, backoff_s: float) -> None:
        self._backoff = wait_exponential(multiplier=backoff_s, max=MAX_WAIT_S)

    def __call__(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response: httpx.Response = outcome.result()
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                return min(float(retry_after), MAX_WAIT_S)
        return self._backoff(state)


def _last_attempt(state: RetryCallState) -> Any:
    """Out of attempts: the last answer, or the last error raised, as a single attempt gives it."""
    assert state.outcome is not None
    return state.outcome.result()


def _pinned(url: str, address: IpAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request that reaches `url`'s host at `address` alone: the URL with the address for
    its host, the name in the Host header, and for https the name for TLS (SNI and the
    certificate's check: httpx's `sni_hostname` request extension)."""
    import httpx

    original = httpx.URL(url)
    headers = {"Host": original.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if original.scheme == "https":
        extensions["sni_hostname"] = original.raw_host.decode("ascii")
    return str(original.copy_with(host=str(address))), headers, extensions


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    timeout_s: float = TIMEOUT_S,
    backoff_s: float = BACKOFF_S,
    allow_internal: bool | None = None,
    guard: AddressGuard | None = None,
) -> Delivery:
    """POST `payload` as JSON to `url`: retried on a lost connection, a timeout, 429 and 5xx
    (waiting `backoff_s`, doubled, or the receiver's Retry-After), never on another answer;
    redirects are not followed. Unless internal hosts are allowed (or given a `guard`), the
    host is resolved once, not posted to when an address is internal, and every attempt
    connects to the first address that passed, whatever the name resolves to by then. Never
    raises."""
    import httpx  # the runs that notify only

    host = url_host(url)
    if guard is None and not (
        internal_hosts_allowed() if allow_internal is None else allow_internal
    ):
        guard = AddressGuard()
    target: str = url
    headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    if guard is not None:
        try:
            address = guard.addresses(urlsplit(url).hostname or "")[0]
        except HostRefused as refused:
            return Delivery(host, False, 0, None, f"refused: {refused}")
        except (OSError, UnicodeError, ValueError, IndexError) as exc:
            error = f"ConnectError: {host} does not resolve ({type(exc).__name__})"
            return Delivery(host, False, 1, None, error)
        try:
            target, headers, extensions = _pinned(url, address)
        except (httpx.InvalidURL, UnicodeError):
            return Delivery(host, False, 0, None, "InvalidURL")
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=_RetryAfterOrBackoff(backoff_s),
        retry=(
            retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda response: response.status_code in RETRIED_STATUSES)
        ),
        retry_error_callback=_last_attempt,
    )
    with httpx.Client(timeout=timeout_s, headers={"User-Agent": "vsl-pipelines"}) as client:
        try:
            response = retrying(
                client.post, target, json=payload, headers=headers, extensions=extensions
            )
        except httpx.TransportError as exc:
            text = str(exc).replace(url, host).replace(target, host)
            return Delivery(
                host,
                False,
                retrying.statistics["attempt_number"],
                None,
                f"{type(exc).__name__}: {text}",
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # not retried: httpx refuses it
            return Delivery(
                host, False, retrying.statistics["attempt_number"], None, type(exc).__name__
            )
    made = retrying.statistics["attempt_number"]
    if response.is_success:
        return Delivery(host, True, made, response.status_code)
    return Delivery(host, False, made, response.status_code, f"answered {response.status_code}")


@dataclass(frozen=True)
class Notifier:
    """Tells a script's workspace, at its notification URL (none set: nothing is sent), what
    waits for it. Never raises: a notification that fails is logged, the run goes on."""

    db: Database
    links: StudioLinks
    attempts: int = ATTEMPTS
    backoff_s: float = BACKOFF_S
    guard: AddressGuard | None = None  # None: as VSL_NOTIFY_INTERNAL_HOSTS says

    def decisions_waiting(self, script_id: str) -> Delivery | None:
        """A batch of takes landed: how many decisions wait (nothing sent when none does)."""
        return self._send(
            script_id,
            lambda activity, workspace: decisions_waiting_notice(activity, workspace, self.links),
        )

    def video_ready(
        self, script_id: str, compilation_id: int, output_format: str, duration_s: float
    ) -> Delivery | None:
        return self._send(
            script_id,
            lambda activity, workspace: video_ready_notice(
                activity, workspace, self.links, compilation_id, output_format, duration_s
            ),
        )

    def _send(
        self, script_id: str, notice_for: Callable[[ScriptActivity, str], Notice | None]
    ) -> Delivery | None:
        try:
            with self.db.connect() as conn:
                activity = script_activity(conn, script_id)
                if activity is None:
                    return None
                url = workspace_rows.notification_url(conn, activity.workspace_id)
                workspace = workspace_rows.workspace_by_id(conn, activity.workspace_id).slug
            notice = notice_for(activity, workspace)
            if url is None or notice is None:
                return None
            delivery = deliver(
                url,
                notice.payload(),
                attempts=self.attempts,
                backoff_s=self.backoff_s,
                guard=self.guard,
            )
        except Exception as exc:  # a notification never fails the run that sends it
            log.warning(
                "notification not sent",
                extra={"script_id": script_id, "fields": {"error": type(exc).__name__}},
            )
            return None
        fields = {
            "event": notice.event,
            "workspace": workspace,
            "host": delivery.host,
            "attempts": delivery.attempts,
            "status": delivery.status,
        }
        if delivery.ok:
            log.info("notification sent", extra={"script_id": script_id, "fields": fields})
        else:
            log.warning(
                "notification failed",
                extra={"script_id": script_id, "fields": {**fields, "error": delivery.error}},
            )
        return delivery
