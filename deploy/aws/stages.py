"""What an operator chooses for one deployment: the stage (dev, staging, prod) with its sizes, and
the context values every stage shares (image, admin CIDR, certificate, domain, sign-in).

`resolve(context)` is the one way in: CDK context (`-c key=value`) picks the stage and may override
any of its sizes by name; an unknown stage or a bad value is an error naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from ipaddress import IPv4Network
from typing import Annotated, Any, Literal

from aws_cdk import aws_logs as logs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from vsl_pipelines.domain.roles import SLUG

_Days = logs.RetentionDays
# The retentions CloudWatch Logs accepts, by their number of days.
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: _Days.ONE_DAY,
    3: _Days.THREE_DAYS,
    5: _Days.FIVE_DAYS,
    7: _Days.ONE_WEEK,
    14: _Days.TWO_WEEKS,
    30: _Days.ONE_MONTH,
    60: _Days.TWO_MONTHS,
    90: _Days.THREE_MONTHS,
    120: _Days.FOUR_MONTHS,
    150: _Days.FIVE_MONTHS,
    180: _Days.SIX_MONTHS,
    365: _Days.ONE_YEAR,
    400: _Days.THIRTEEN_MONTHS,
    545: _Days.EIGHTEEN_MONTHS,
    731: _Days.TWO_YEARS,
    1096: _Days.THREE_YEARS,
    1827: _Days.FIVE_YEARS,
    2192: _Days.SIX_YEARS,
    2557: _Days.SEVEN_YEARS,
    2922: _Days.EIGHT_YEARS,
    3288: _Days.NINE_YEARS,
    3653: _Days.TEN_YEARS,
}


# A workspace's slug, as the app accepts it (`domain.roles.SLUG`), matched whole.
WorkspaceSlug = Annotated[str, StringConstraints(pattern=f"^{SLUG.pattern}$")]
# A spend threshold in USD per day: a positive, finite number.
UsdPerDay = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class DeployError(ValueError):
    """A context value the stack cannot be built from; the message names the key."""


class StageSettings(BaseModel):
    """Sizes and retention of one stage. Every field can be overridden by a context value of the
    same name (`-c webhook_max_tasks=20`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    # RETAIN removal policies, RDS deletion protection, DynamoDB point-in-time recovery, bucket
    # versioning: what makes a stage's data outlive a mistaken `cdk destroy`.
    retain_data: bool
    nat_gateways: int = Field(ge=1, le=2)
    webhook_min_tasks: int = Field(ge=2)
    webhook_max_tasks: int
    # The ALB RequestCountPerTarget (requests per task per minute) the webhook service scales to.
    webhook_requests_per_target: int = Field(gt=0)
    webserver_tasks: int = Field(ge=1)
    code_server_tasks: int = Field(ge=1)
    service_cpu: int
    service_memory_mib: int
    run_cpu: int
    run_memory_mib: int
    # Compiles write clips and the video to local disk; Fargate gives 20 GiB unless told.
    run_ephemeral_gib: int = Field(ge=21, le=200)
    db_instance_class: str
    db_allocated_gib: int = Field(ge=20)
    db_max_allocated_gib: int
    db_multi_az: bool
    db_backup_days: int = Field(ge=1, le=35)
    redis_node_type: str
    redis_nodes: int = Field(ge=1, le=6)
    log_retention_days: int
    # Media under `scripts/` and `adhoc/` moves to INTELLIGENT_TIERING after this many days.
    media_transition_days: int = Field(ge=0)
    # Ad-hoc media (`adhoc/`) is deleted after this many days; None keeps it.
    adhoc_expiration_days: int | None = Field(default=None, ge=1)
    # Section previews (tag vsl-media=preview) are deleted after this many days; None keeps them.
    # A preview is made again only when a take changes; after that the pages play the clip and
    # the voice side by side.
    preview_expiration_days: int | None = Field(default=None, ge=1)
    # Takes (tag vsl-media=take: keyframes, clips, narrations, soundtracks) are deleted after this
    # many days; None keeps them. A compile needs its script's approved takes, so past this a
    # script can no longer be compiled again, while its compiled videos (vsl-media=final) stay.
    take_expiration_days: int | None = Field(default=None, ge=1)
    # The CloudWatch alarm on the spend of all workspaces together (SpendUSD without dimension),
    # in USD per day; None: no such alarm (`-c daily_spend_alarm_usd=none` turns a default off).
    daily_spend_alarm_usd: UsdPerDay | None = None

    @field_validator("daily_spend_alarm_usd", mode="before")
    @classmethod
    def _none_turns_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        if isinstance(value, bool):
            raise ValueError("expected a number of USD per day, or none")
        return value

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION[self.log_retention_days]

    @model_validator(mode="after")
    def _consistent(self) -> StageSettings:
        if self.webhook_max_tasks < self.webhook_min_tasks:
            raise ValueError("webhook_max_tasks must be at least webhook_min_tasks")
        if self.db_max_allocated_gib < self.db_allocated_gib:
            raise ValueError("db_max_allocated_gib must be at least db_allocated_gib")
        if self.log_retention_days not in LOG_RETENTION:
            raise ValueError(
                f"log_retention_days must be one of CloudWatch's values: {sorted(LOG_RETENTION)}"
            )
        if (
            self.adhoc_expiration_days is not None
            and self.adhoc_expiration_days <= self.media_transition_days
        ):
            raise ValueError("adhoc_expiration_days must be later than media_transition_days")
        if self.take_expiration_days is not None and self.take_expiration_days < 30:
            raise ValueError(
                "take_expiration_days must be at least 30: a script under review needs its takes"
            )
        return self


_SHARED: dict[str, Any] = {"webhook_min_tasks": 2}

STAGES: dict[str, StageSettings] = {
    "dev": StageSettings(
        **_SHARED,
        name="dev",
        retain_data=False,
        nat_gateways=1,
        webhook_max_tasks=4,
        webhook_requests_per_target=1000,
        webserver_tasks=1,
        code_server_tasks=1,
        service_cpu=512,
        service_memory_mib=1024,
        run_cpu=1024,
        run_memory_mib=2048,
        run_ephemeral_gib=30,
        db_instance_class="t4g.micro",
        db_allocated_gib=20,
        db_max_allocated_gib=50,
        db_multi_az=False,
        db_backup_days=1,
        redis_node_type="cache.t4g.micro",
        redis_nodes=1,
        log_retention_days=7,
        media_transition_days=7,
        adhoc_expiration_days=30,
        preview_expiration_days=7,
        take_expiration_days=60,
        daily_spend_alarm_usd=25,
    ),
    "staging": StageSettings(
        **_SHARED,
        name="staging",
        retain_data=False,
        nat_gateways=1,
        webhook_max_tasks=6,
        webhook_requests_per_target=1000,
        webserver_tasks=1,
        code_server_tasks=1,
        service_cpu=512,
        service_memory_mib=1024,
        run_cpu=2048,
        run_memory_mib=4096,
        run_ephemeral_gib=50,
        db_instance_class="t4g.small",
        db_allocated_gib=20,
        db_max_allocated_gib=100,
        db_multi_az=False,
        db_backup_days=7,
        redis_node_type="cache.t4g.small",
        redis_nodes=1,
        log_retention_days=30,
        media_transition_days=30,
        adhoc_expiration_days=90,
        preview_expiration_days=30,
        daily_spend_alarm_usd=50,
    ),
    "prod": StageSettings(
        **_SHARED,
        name="prod",
        retain_data=True,
        nat_gateways=2,
        webhook_max_tasks=20,
        webhook_requests_per_target=1000,
        webserver_tasks=2,
        code_server_tasks=2,
        service_cpu=1024,
        service_memory_mib=2048,
        run_cpu=2048,
        run_memory_mib=8192,
        run_ephemeral_gib=100,
        db_instance_class="m7g.large",
        db_allocated_gib=100,
        db_max_allocated_gib=1000,
        db_multi_az=True,
        db_backup_days=30,
        redis_node_type="cache.m7g.large",
        redis_nodes=2,
        log_retention_days=90,
        media_transition_days=30,
        adhoc_expiration_days=365,
        preview_expiration_days=90,
    ),
}


class DeployContext(BaseModel):
    """The context values shared by every stage (`-c image=... -c admin_cidr=...`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    # A full image reference; unset means the stack's own ECR repository `repository`, with the
    # tag a CloudFormation parameter (ImageTag, default `latest`).
    image: str | None = None
    repository: str = Field(default="vsl-pipelines", pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    # Who may open the Dagster UI (ALB listener on port 3000); unset leaves it closed to all.
    admin_cidr: IPv4Network | None = None
    # An ACM certificate for `domain_name`: HTTPS on 443 (80 redirects) and on the UI port.
    certificate_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:acm:")
    domain_name: str | None = Field(default=None, pattern=r"^[a-z0-9.-]+$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The prefix of the Cognito sign-in domain (<prefix>.auth.<region>.amazoncognito.com);
    # unset: vsl-<stage>-<the first 8 hex digits of the stack's id>, unique per stack.
    # Prefixes are global to a region across all AWS accounts.
    auth_domain_prefix: str | None = Field(
        default=None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    )
    # Multi-factor sign-in of the user pool (TOTP authenticator apps; no SMS, no email codes):
    # `optional` lets each person add one, `required` asks everyone for one at sign-in.
    auth_mfa: Literal["off", "optional", "required"] = "optional"
    # A CloudWatch alarm per workspace on its spend per day (SpendUSD, dimension `workspace`):
    # workspace slug -> USD, a mapping or its JSON (`-c 'spend_alarms={"acme": 25}'`).
    spend_alarms: dict[WorkspaceSlug, UsdPerDay] = Field(default_factory=dict)
    # Who the alarm topic emails (the address confirms the subscription first); unset: nobody.
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @field_validator("spend_alarms", mode="before")
    @classmethod
    def _a_mapping_or_its_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(value, Mapping):
            raise ValueError('expected workspace slug -> USD per day, e.g. {"acme": 25}')
        if any(isinstance(usd, bool) for usd in value.values()):
            raise ValueError("a threshold is a number of USD per day, not true or false")
        return value

    @model_validator(mode="after")
    def _https_needs_a_name(self) -> DeployContext:
        if self.certificate_arn and not self.domain_name:
            raise ValueError("certificate_arn needs domain_name (the name the certificate covers)")
        return self

    @model_validator(mode="after")
    def _cognito_accepts_the_prefix(self) -> DeployContext:
        prefix = self.auth_domain_prefix or ""
        if any(word in prefix for word in ("aws", "amazon", "cognito")):
            raise ValueError(
                "auth_domain_prefix may not contain aws, amazon or cognito (Cognito refuses them)"
            )
        return self

    @property
    def https_host(self) -> str | None:
        """The public name served over HTTPS (`domain_name` with `certificate_arn`), else None.
        Sign-in needs it: Cognito calls back only to https:// URLs (http:// for localhost
        alone) and the ALB authenticates only on HTTPS listeners."""
        return self.domain_name if self.certificate_arn else None


def resolve(context: Mapping[str, Any]) -> tuple[DeployContext, StageSettings]:
    """The deployment the context asks for; DeployError names the key that is wrong."""
    try:
        deploy = DeployContext.model_validate(
            {k: v for k, v in context.items() if k in DeployContext.model_fields}
        )
    except ValidationError as exc:
        raise DeployError(f"bad context value: {_describe(exc)}") from None
    base = STAGES.get(deploy.stage)
    if base is None:
        raise DeployError(
            f"unknown stage {deploy.stage!r} (context value `stage`): "
            f"choose one of {', '.join(STAGES)}"
        )
    overrides = {
        k: v for k, v in context.items() if k in StageSettings.model_fields and k != "name"
    }
    try:
        stage = StageSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise DeployError(f"bad size for stage {base.name!r}: {_describe(exc)}") from None
    return deploy, stage


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'context'}: {e['msg']}" for e in exc.errors()
    )
