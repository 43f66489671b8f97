"""One settings object, read once from the environment.

Every variable here is documented in the README's table; defaults give the embedded setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where `config/` and `database/` are: the checkout this package runs from, or `VSL_PROJECT_ROOT`
# for an installed (non-editable) package, whose files sit in site-packages without them (the
# image sets it to /opt/dagster/app).
PROJECT_ROOT = Path(os.environ.get("VSL_PROJECT_ROOT") or Path(__file__).resolve().parent.parent)
# The sandbox's API token when `VSL_SANDBOX_TOKEN` is unset; `vsl dev` and `vsl demo` start
# it with a fresh random one instead.
DEFAULT_SANDBOX_TOKEN = "r8_sandbox"
# The `Host` names the service always answers to.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class OidcSettings:
    """The studio's client at an OpenID provider (`VSL_OIDC_*`)."""

    issuer: str
    client_id: str
    client_secret: SecretStr = field(repr=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


# The original system's variable names, read as ours: (its name, ours, the field).
ORIGINAL_VARIABLES = (
    ("S3_BUCKET", "VSL_S3_BUCKET", "s3_bucket"),
    ("DYNAMODB_TABLE", "VSL_DYNAMODB_JOBS_TABLE", "dynamodb_jobs_table"),
)


class Settings(BaseSettings):
    """Runtime configuration; no secret is ever printed (SecretStr)."""

    # An empty variable is unset: a deployment passes some to every run by name (the Docker
    # run launcher's `env_vars` needs each one set), empty where unused.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    data_dir: Path = Field(default=PROJECT_ROOT / "data", alias="VSL_DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")

    replicate_api_token: SecretStr | None = Field(default=None, alias="REPLICATE_API_TOKEN")
    replicate_base_url: str | None = Field(default=None, alias="REPLICATE_BASE_URL")
    replicate_webhook_secret: SecretStr | None = Field(
        default=None, alias="REPLICATE_WEBHOOK_SECRET"
    )
    api_key: SecretStr | None = Field(default=None, alias="VSL_API_KEY")
    # Signs the studio's session cookies and form tokens; every replica needs the same one.
    # Empty: derived from the webhook secret (which every replica shares already).
    session_secret: SecretStr | None = Field(default=None, alias="VSL_SESSION_SECRET")
    # Signs the local media folder's URLs (`/media/KEY?sig=...`); every process that hands out
    # or serves them needs the same one (`vsl dev` and `vsl demo` make one per run). Unset:
    # the session secret when set, else local media URLs are not signed (S3's are presigned).
    media_secret: SecretStr | None = Field(default=None, alias="VSL_MEDIA_SECRET")
    # The studio's OpenID Connect sign-in (all three set: people sign in at the provider;
    # unset: the studio is signed into with an API key). `vsl dev` starts a local provider.
    oidc_issuer: str | None = Field(default=None, alias="VSL_OIDC_ISSUER")
    oidc_client_id: str | None = Field(default=None, alias="VSL_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(default=None, alias="VSL_OIDC_CLIENT_SECRET")
    service_host: str = Field(default="127.0.0.1", alias="VSL_SERVICE_HOST")
    # Host names the service answers to (the `Host` header), comma-separated; empty: only
    # the loopback names and the host it listens on. Guards against DNS rebinding.
    allowed_hosts: str = Field(default="", alias="VSL_ALLOWED_HOSTS")
    service_port: int = Field(default=8080, alias="VSL_SERVICE_PORT")
    # Origins (scheme://host[:port]) whose pages may read the API's answers and downloads,
    # comma-separated; empty: none (CORS, GET and HEAD only).
    cors_origins: str = Field(default="", alias="VSL_CORS_ORIGINS")
    # Empty: the service's own address (`service_url`).
    webhook_url: str = Field(default="", alias="VSL_WEBHOOK_URL")
    public_media_url: str = Field(default="", alias="VSL_MEDIA_URL")
    # The service collects a final webhook's output as it stores it (issue 25); off: the
    # collecting runs alone do, a sensor tick and a run later.
    collect_at_webhook: bool = Field(default=True, alias="VSL_COLLECT_AT_WEBHOOK")

    sandbox_host: str = Field(default="127.0.0.1", alias="VSL_SANDBOX_HOST")
    sandbox_port: int = Field(default=8787, alias="VSL_SANDBOX_PORT")
    sandbox_token: SecretStr = Field(
        default=SecretStr(DEFAULT_SANDBOX_TOKEN), alias="VSL_SANDBOX_TOKEN"
    )

    models_file: Path = Field(default=PROJECT_ROOT / "config" / "models.json", alias="MODELS_FILE")
    models_config: str | None = Field(default=None, alias="MODELS_CONFIG")

    media_root: Path | None = Field(default=None, alias="VSL_MEDIA_ROOT")
    s3_bucket: str | None = Field(default=None, alias="VSL_S3_BUCKET")
    s3_prefix: str = Field(default="", alias="VSL_S3_PREFIX")
    # A CDN over the bucket (the AWS stack's CloudFront): a script's final videos and delivery
    # files are handed out at `{this}/{key}` instead of presigned. Empty: presigned, as the rest.
    media_cdn_url: str = Field(
        default="",
        alias="VSL_MEDIA_CDN_URL",
        pattern=r"^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?)?$",
    )
    dynamodb_table: str | None = Field(default=None, alias="VSL_DYNAMODB_TABLE")
    # The real-time jobs table (status documents, the second layer of `GET /api/status`).
    dynamodb_jobs_table: str | None = Field(default=None, alias="VSL_DYNAMODB_JOBS_TABLE")
    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    aws_region: str | None = Field(default=None, alias="AWS_REGION")

    webhook_sensor_interval_s: int = Field(default=5, alias="VSL_WEBHOOK_SENSOR_INTERVAL")
    approval_sensor_interval_s: int = Field(default=5, alias="VSL_APPROVAL_SENSOR_INTERVAL")
    compile_sensor_interval_s: int = Field(default=5, alias="VSL_COMPILE_SENSOR_INTERVAL")
    scripts_sensor_interval_s: int = Field(default=10, alias="VSL_SCRIPTS_SENSOR_INTERVAL")
    # How often the daemon's sensor loop looks for due sensors (Dagster's floor is 5 s, so a
    # sensor interval below it is not kept); `vsl_pipelines.defs.daemon` applies it.
    sensor_loop_s: float = Field(default=5.0, gt=0, alias="VSL_SENSOR_LOOP")
    late_webhook_s: float = Field(default=120.0, alias="VSL_LATE_WEBHOOK_S")
    stale_run_s: float = Field(default=900.0, alias="VSL_STALE_RUN_S")
    sensor_batch_size: int = Field(default=200, alias="VSL_SENSOR_BATCH")
    generation_schedule: str = Field(default="*/5 * * * *", alias="VSL_GENERATION_SCHEDULE")
    schedule_batch_size: int = Field(default=10, alias="VSL_SCHEDULE_BATCH")

    # Workspace notification URLs may name loopback, private, link-local or metadata
    # addresses (local development and tests only: elsewhere they reach internal services).
    notify_internal_hosts: bool = Field(default=False, alias="VSL_NOTIFY_INTERNAL_HOSTS")

    # The landing-page player (`/watch`): event posts one client may send a minute, and the
    # viewers each cut needs before the variant report names the winning hook.
    events_per_minute: int = Field(default=120, ge=1, alias="VSL_EVENTS_PER_MINUTE")
    variant_min_viewers: int = Field(default=100, ge=1, alias="VSL_VARIANT_MIN_VIEWERS")

    log_level: str = Field(default="INFO", alias="VSL_LOG_LEVEL")
    dagster_home_dir: Path | None = Field(default=None, alias="DAGSTER_HOME")

    @model_validator(mode="after")
    def _original_names(self) -> Settings:
        """The original system's variables (`S3_BUCKET`, `DYNAMODB_TABLE`: its jobs table) for
        what they named; the project's own names win, and the two disagreeing is an error."""
        for original, ours, field_name in ORIGINAL_VARIABLES:
            value = os.environ.get(original, "").strip()
            if not value:
                continue
            current = getattr(self, field_name)
            if current is None:
                setattr(self, field_name, value)
            elif current != value:
                raise ValueError(
                    f"{original}={value!r} and {ours}={current!r} disagree: set one of them"
                    f" ({ours} is this project's name, {original} the original system's)"
                )
        return self

    @model_validator(mode="after")
    def _service_urls(self) -> Settings:
        self.webhook_url = self.webhook_url or f"{self.service_url}/webhooks/replicate"
        self.public_media_url = self.public_media_url or f"{self.service_url}/media"
        return self

    @property
    def media_url_secret(self) -> SecretStr | None:
        """What signs local media URLs: `VSL_MEDIA_SECRET`, else `VSL_SESSION_SECRET`."""
        return self.media_secret or self.session_secret

    @property
    def oidc(self) -> OidcSettings | None:
        """The studio's OpenID client, when all three `VSL_OIDC_*` are set."""
        if self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret:
            return OidcSettings(self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret)
        return None

    @property
    def service_url(self) -> str:
        """Where `vsl serve` answers on this machine (webhooks, media, API, review page)."""
        host = "127.0.0.1" if self.service_host in ("0.0.0.0", "::") else self.service_host
        return f"http://{host}:{self.service_port}"

    @property
    def allowed_host_names(self) -> frozenset[str]:
        """The `Host` names (without port) the service accepts."""
        names = {*LOOPBACK_NAMES, self.service_host}
        names.update(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())
        return frozenset(n for n in names if n not in ("0.0.0.0", "::"))

    @property
    def cors_origin_list(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @property
    def uses_sandbox(self) -> bool:
        return self.replicate_api_token is None

    @property
    def replicate_token(self) -> SecretStr:
        """The token every Replicate call carries: Replicate's, or the sandbox's."""
        return self.replicate_api_token or self.sandbox_token

    @property
    def replicate_api_url(self) -> str:
        if self.replicate_base_url:
            return self.replicate_base_url.rstrip("/")
        if self.uses_sandbox:
            return f"http://{self.sandbox_host}:{self.sandbox_port}/v1"
        return "https://api.replicate.com/v1"

    @property
    def replicate_client_base_url(self) -> str:
        """The `replicate` client's base_url: the API URL without its `/v1` (the client adds it)."""
        url = self.replicate_api_url
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance: `DAGSTER_HOME`, or `dagster_home` under the data folder."""
        return self.dagster_home_dir or self.data_dir / "dagster_home"

    @property
    def media_dir(self) -> Path:
        return self.media_root or self.data_dir / "media"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; `SettingsError` names what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) + ': ' if error['loc'] else ''}"
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise SettingsError(f"configuration: {problems}") from None


class SettingsError(ValueError):
    """The environment does not make a valid configuration."""
