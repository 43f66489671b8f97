"""Running the service: the app built from settings, served by uvicorn (blocking or in a thread).

The webhook secret comes from `REPLICATE_WEBHOOK_SECRET` or, once at start, from the API.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from vsl_pipelines.cache import rate_limiter_from_url
from vsl_pipelines.cache.key_cache import key_cache_from_url
from vsl_pipelines.cache.key_rates import key_rates_from_url
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import ready_database
from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.inbox import make_inbox
from vsl_pipelines.job_status.layers import make_status_layers
from vsl_pipelines.job_status.warm_read import warm_status_read
from vsl_pipelines.logs import configure_logging, get_logger
from vsl_pipelines.services.notifications import StudioLinks
from vsl_pipelines.services.webhook_collection import WebhookCollector
from vsl_pipelines.settings import Settings, get_settings
from vsl_pipelines.storage import make_media_store
from vsl_pipelines.storage.signing import MediaUrlSigner
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.limits import HEADER_TIMEOUT_S
from vsl_pipelines.web.protocol import uvicorn_limits

log = get_logger("vsl_pipelines.web.server")

# Behind a load balancer that keeps idle connections open (the ALB: 60 s), the service must keep
# them longer, or it closes one just as the balancer sends a request on it (a 502). Unset: the
# short default of `web.limits`, right where clients connect directly.
KEEP_ALIVE_ENV = "VSL_KEEP_ALIVE_S"


def service_limits() -> dict[str, object]:
    """`uvicorn_limits()` with the keep-alive of `VSL_KEEP_ALIVE_S` when set."""
    limits: dict[str, object] = uvicorn_limits()
    keep_alive = os.environ.get(KEEP_ALIVE_ENV, "").strip()
    if keep_alive:
        limits["timeout_keep_alive"] = int(keep_alive)
    return limits


class WebhookSecretUnavailable(RuntimeError):
    """The webhook signing secret is neither configured nor obtainable from the API."""


def fetch_webhook_secret(
    api_url: str,
    api_token: str | None = None,
    *,
    attempts: int = 6,
    backoff_s: float = 0.5,
    timeout_s: float = 5.0,
) -> str:
    """`GET {api_url}/webhooks/default/secret` -> its `key`, retried while the API starts."""
    url = f"{api_url.rstrip('/')}/webhooks/default/secret"
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s),
        # a refusal (e.g. a wrong token) does not get better by waiting: only 429 and 5xx are
        retry=(
            retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda r: r.status_code == 429 or r.status_code >= 500)
        ),
        retry_error_callback=_last_attempt,
    )
    try:
        response = retrying(httpx.get, url, headers=headers, timeout=timeout_s)
    except httpx.TransportError as exc:
        last_error = type(exc).__name__
    else:
        if response.status_code == 200:
            key = _secret_from(response)
            if key is not None:
                return key
            raise WebhookSecretUnavailable(f"{url} answered without a 'whsec_' key")
        last_error = f"HTTP {response.status_code}"
    raise WebhookSecretUnavailable(
        f"could not get the webhook secret from {url} ({last_error}); "
        "set REPLICATE_WEBHOOK_SECRET or start the API (e.g. the sandbox) first"
    )


def _last_attempt(state: RetryCallState) -> httpx.Response:
    """Out of attempts: the last answer, or the last error raised, as a single attempt gives it."""
    assert state.outcome is not None
    return state.outcome.result()


def _secret_from(response: httpx.Response) -> str | None:
    try:
        key = response.json().get("key")
    except (ValueError, AttributeError):
        return None
    return key if isinstance(key, str) and key.startswith("whsec_") else None


def build_app_from_settings(settings: Settings | None = None) -> FastAPI:
    """The app on the configured inbox, secret, local media folder and the `/api` routes."""
    settings = settings or get_settings()
    if settings.replicate_webhook_secret is not None:
        secret = settings.replicate_webhook_secret.get_secret_value()
    else:
        secret = fetch_webhook_secret(
            settings.replicate_api_url, settings.replicate_token.get_secret_value()
        )
    db = ready_database(settings)
    inbox = make_inbox(
        db=db,
        dynamodb_table=settings.dynamodb_table,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
    # With S3 the backend downloads inputs from presigned URLs; the local folder is served here.
    media_root = None if settings.s3_bucket else settings.media_dir
    if media_root is not None:
        media_root.mkdir(parents=True, exist_ok=True)
    url_secret = settings.media_url_secret
    if media_root is not None and url_secret is None:
        log.warning(
            "local media URLs are not signed: set VSL_MEDIA_SECRET (the same in every process)"
        )
    signer = MediaUrlSigner(url_secret.get_secret_value()) if url_secret else None
    key_rates = key_rates_from_url(settings.redis_url)
    key_cache = key_cache_from_url(settings.redis_url)
    job_status = make_status_layers(
        db,
        redis_url=settings.redis_url,
        jobs_table=settings.dynamodb_jobs_table,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
    api = ApiConfig(
        db=db,
        media_store=make_media_store(
            root=settings.media_dir,
            public_base_url=settings.public_media_url,
            s3_bucket=settings.s3_bucket,
            s3_prefix=settings.s3_prefix,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
            signer=signer,
            cdn_url=settings.media_cdn_url,
        ),
        # `default_registry()` reads the global settings; this reads the ones passed in.
        registry=load_registry(settings.models_file, settings.models_config),
        api_key=settings.api_key,
        key_rates=key_rates,
        key_cache=key_cache,
        warm_status=warm_status_read(key_cache, key_rates, next(iter(job_status.caches), None)),
        allowed_hosts=settings.allowed_host_names,
        session_secret=(
            settings.session_secret.get_secret_value().encode() if settings.session_secret else None
        ),
        cors_origins=settings.cors_origin_list,
        oidc=settings.oidc,
        events_per_minute=settings.events_per_minute,
        variant_min_viewers=settings.variant_min_viewers,
        predictions=PredictionClient(
            settings.replicate_client_base_url,
            settings.replicate_token.get_secret_value(),
            settings.webhook_url,
            rate_limiter=rate_limiter_from_url(settings.redis_url),
        ),
        job_status=job_status,
    )
    collector = None
    if settings.collect_at_webhook:
        collector = WebhookCollector(
            db,
            api.media_store,
            api.job_status,
            StudioLinks.from_media_url(settings.public_media_url),
        )
        collector.start()
    return create_app(inbox, secret, media_root, api=api, media_signer=signer, collector=collector)


def run_service(host: str, port: int, workers: int = 1) -> None:
    """Serve the app with uvicorn until interrupted (headers, idle and slow clients bounded);
    with `workers` > 1, that many processes share one listening socket."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if workers > 1:
        # The embedded server (DATABASE_URL unset) is held here too, so that this process,
        # which outlives its workers, lets go of it last and stops it (db/embedded.py).
        Database.from_settings(settings)
        _run_workers(settings, host, port, workers)
        return
    app = build_app_from_settings(settings)
    log.info("service listening on http://%s:%d", host, port)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, **service_limits())  # type: ignore[arg-type]


def _serve_on(sock: socket.socket, settings: Settings) -> None:
    """One worker: its own app (pools, clients) on the shared socket, until told to stop."""
    # SIGTERM ends a worker as before, whatever handler the parent had when it forked.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = build_app_from_settings(settings)
    config = uvicorn.Config(app, log_config=None, access_log=False, **service_limits())  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[sock])


def _run_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """`workers` forked processes accepting on one socket bound here; SIGTERM or SIGINT stops
    them all, and a worker that dies takes the others down (the supervisor restarts the whole).

    Forked before any pool, client or thread exists in this process, so each worker opens its
    own (the pools are keyed by pid anyway)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(target=_serve_on, args=(sock, settings), name=f"vsl-serve-{i}")
        for i in range(workers)
    ]
    for child in children:
        child.start()
    log.info("service listening on http://%s:%d with %d workers", host, port, workers)

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while all(child.is_alive() for child in children):
            children[0].join(0.5)
        stop(signal.SIGTERM, None)
        for child in children:
            child.join(30)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    failed = [c for c in children if c.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise RuntimeError(f"service worker(s) exited: {[c.exitcode for c in failed]}")


@dataclass
class RunningService:
    """A uvicorn server on a background thread; `url` has no trailing slash."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


def start_service_in_thread(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout_s: float = 10.0,
    header_timeout_s: float = HEADER_TIMEOUT_S,
) -> RunningService:
    """Start `app` on a daemon thread (port 0: a free port) and wait until it accepts requests.

    Served with the same limits as `run_service`.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", **uvicorn_limits(header_timeout_s)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="vsl-service", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"service did not start on {host}:{bound_port}")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    return RunningService(url=f"http://{url_host}:{bound_port}", server=server, thread=thread)
