"""What an operator chooses for one deployment: the stage with its sizes, and the context values
every stage shares (image, admin CIDR, certificate, domain, sign-in).

The stages are those of a stages file (`stages.toml` beside this module, or `-c stages_file=PATH`):
each names one of the built-in profiles here (dev, staging, prod, small) and may replace any of its
sizes; the stage's own name names the stack and its resources.

`resolve(context)` is the one way in: CDK context (`-c key=value`) picks the stage and may override
any of its sizes by name; an unknown stage or a bad value is an error naming the key (or the file).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from ipaddress import IPv4Network
from pathlib import Path
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


# A parameter path the stack grants reads under: `/`, names of letters, digits, `_.-`, each
# followed by `/` (`/vsl/`, `/acme/vsl/`).
SSM_PREFIX = re.compile(r"^/(?:[A-Za-z0-9_.-]+/)+$")


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
    # 0: no NAT gateway; the tasks then sit in the public subnets with a public address and no
    # inbound rule but their peers' (the small profile).
    nat_gateways: int = Field(ge=0, le=2)
    vpc_cidr: str = "10.0.0.0/16"
    # "alb": the public ALB (HTTPS, WAF, the UI behind Cognito); "none": nothing public at all,
    # people reach the studio and the Dagster UI through ECS Exec port forwards and predictions
    # are collected by polling (no webhook can arrive).
    public_entry: Literal["alb", "none"] = "alb"
    # One task runs the webserver, the daemon, the code server and `vsl serve`, and runs are
    # subprocesses of the code server (DefaultRunLauncher): no task per run.
    all_in_one: bool = False
    # The services' CPU; Fargate Spot takes x86_64 tasks only, so runs stay x86_64 there.
    service_arch: Literal["x86_64", "arm64"] = "x86_64"
    run_capacity: Literal["FARGATE", "FARGATE_SPOT"] = "FARGATE"
    # staging and prod refuse to synthesize without certificate_arn and domain_name.
    requires_https: bool = False
    # Database credentials rotate (the master single-user, the app's and Dagster's users with
    # alternating users); the rotation functions need a way to Secrets Manager (the NAT).
    rotate_db_credentials: bool = True
    db_rotation_days: int = Field(default=30, ge=1, le=365)
    # WAF: requests per client address in 5 minutes (all paths but the signed webhooks and the
    # landing-page player's), and on the sign-in paths alone (ingress.py).
    waf_requests_per_5_min: int = Field(default=2000, ge=10)
    waf_sign_in_requests_per_5_min: int = Field(default=100, ge=10)
    # The public player's pages and files (`/watch/`, `/studio/static/`): ~40 requests a viewer of a two-minute
    # cut (page, playlists, 4 s segments, captions), so ~500 viewers behind one address (a
    # carrier's NAT, an office) in 5 minutes.
    waf_watch_requests_per_5_min: int = Field(default=20000, ge=100)
    # Its event posts (`/api/events`): above the service's own limit (VSL_EVENTS_PER_MINUTE,
    # 120 a minute, 600 in 5), which answers first with a 429 the page can wait out.
    waf_events_per_5_min: int = Field(default=3000, ge=100)
    # Operational alarms (alarms.py).
    alarm_db_cpu_percent: float = Field(default=80, gt=0, le=100)
    alarm_db_free_storage_gib: float = Field(default=5, gt=0)
    alarm_db_connections: int = Field(default=80, gt=0)
    alarm_failed_runs_per_hour: int = Field(default=3, ge=1)
    webhook_min_tasks: int = Field(ge=1)
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
    # 0: no Redis (the rate limiter, key cache and status layer fall back to in-process ones).
    redis_nodes: int = Field(ge=0, le=6)
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

    @field_validator(
        "all_in_one",
        "retain_data",
        "db_multi_az",
        "requires_https",
        "rotate_db_credentials",
        mode="before",
    )
    @classmethod
    def _a_context_boolean(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
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
        if self.nat_gateways == 0 and self.rotate_db_credentials:
            raise ValueError(
                "rotate_db_credentials needs a NAT gateway (the rotation function calls "
                "Secrets Manager from the VPC): set nat_gateways or rotate_db_credentials=false"
            )
        if self.all_in_one and self.public_entry != "none":
            raise ValueError(
                "all_in_one serves nothing publicly: with public_entry=alb set all_in_one=false "
                "(a webhook service of its own behind the ALB)"
            )
        if not self.all_in_one and self.webhook_min_tasks < 2:
            raise ValueError("webhook_min_tasks must be at least 2 (one task per zone)")
        if self.take_expiration_days is not None and self.take_expiration_days < 30:
            raise ValueError(
                "take_expiration_days must be at least 30: a script under review needs its takes"
            )
        return self


_SHARED: dict[str, Any] = {"webhook_min_tasks": 2}

# The built-in profiles, by name: each stage of a stages file is based on one (`profile = "..."`).
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
        requires_https=True,
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
        requires_https=True,
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
    # About $50 a month at 1,000 generations a day (`make cost`): one ARM64 task for all of
    # Dagster and `vsl serve`, runs in-process, no NAT, no load balancer, the smallest RDS, no
    # Redis. Nothing public: the studio and the UI through ECS Exec port forwards.
    "small": StageSettings(
        name="small",
        retain_data=False,
        nat_gateways=0,
        public_entry="none",
        all_in_one=True,
        service_arch="arm64",
        rotate_db_credentials=False,
        webhook_min_tasks=1,
        webhook_max_tasks=1,
        webhook_requests_per_target=1000,
        webserver_tasks=1,
        code_server_tasks=1,
        service_cpu=512,
        service_memory_mib=3072,
        run_cpu=512,
        run_memory_mib=3072,
        run_ephemeral_gib=30,
        db_instance_class="t4g.micro",
        db_allocated_gib=20,
        db_max_allocated_gib=50,
        db_multi_az=False,
        db_backup_days=1,
        redis_node_type="cache.t4g.micro",
        redis_nodes=0,
        log_retention_days=14,
        media_transition_days=30,
        adhoc_expiration_days=90,
        preview_expiration_days=30,
        daily_spend_alarm_usd=25,
        alarm_db_connections=60,
    ),
}


class DeployContext(BaseModel):
    """The context values shared by every stage (`-c image=... -c admin_cidr=...`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    # The stages file the stage is looked up in (relative: to the working directory, which is
    # deploy/aws under the cdk CLI); unset: STAGES_FILE.
    stages_file: Path | None = None
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
    # The primary region (unset: the stack is region-agnostic, the CLI's region) and a standby
    # region (region.py): media replicated, global tables, a PostgreSQL replica, DNS failover.
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    dr_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    # DNS failover: the Route 53 zone of domain_name, and the standby's load balancer once an
    # app stack runs there (the runbook deploys it on the day).
    hosted_zone_id: str | None = Field(default=None, pattern=r"^Z[A-Z0-9]+$")
    standby_alb_dns_name: str | None = None
    standby_alb_zone_id: str | None = Field(default=None, pattern=r"^Z[A-Z0-9]+$")
    # Who the alarm topic emails (the address confirms the subscription first); unset: nobody.
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # SSM Parameter Store (the original system's `/vsl/`): the containers get VSL_SSM_PREFIX
    # and may read `<prefix>*`; the Replicate token then comes from `<prefix>replicate-token`
    # rather than the stack's secret. Unset: Secrets Manager alone.
    ssm_prefix: str | None = Field(default=None, pattern=SSM_PREFIX.pattern)

    @field_validator("ssm_prefix", "stages_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

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

    @field_validator("admin_cidr")
    @classmethod
    def _never_everyone(cls, value: IPv4Network | None) -> IPv4Network | None:
        if value is not None and value.prefixlen < 8:
            raise ValueError(
                f"{value} opens the Dagster UI to a good part of the internet: give the "
                "operators' network (a prefix of /8 or longer)"
            )
        return value

    @model_validator(mode="after")
    def _https_needs_a_name(self) -> DeployContext:
        if self.certificate_arn and not self.domain_name:
            raise ValueError("certificate_arn needs domain_name (the name the certificate covers)")
        return self

    @field_validator("dr_region", "region", mode="before")
    @classmethod
    def _none_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @model_validator(mode="after")
    def _standby_elsewhere(self) -> DeployContext:
        if self.dr_region and self.dr_region == (self.region or "us-east-1"):
            raise ValueError("dr_region must differ from the primary region")
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


# The stages file shipped beside this module: the four profiles under their own names, and
# `homolog` (the original system's quick-start stage) on staging's.
STAGES_FILE = Path(__file__).with_name("stages.toml")
# A stage's name goes into resource names (vsl-NAME, vsl-NAME-media-standby-ACCOUNT, Cognito's
# vsl-NAME-xxxxxxxx, RDS's vsl-NAME): lower case, single hyphens, not at the end, at most 20.
STAGE_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$")
PROFILE_KEY = "profile"


def load_stages(path: Path) -> dict[str, StageSettings]:
    """Every stage of a stages file, by name in the file's order: its profile with the file's
    sizes put in and its own name. DeployError names the file (and the stage) when it is wrong."""
    try:
        with path.open("rb") as file:
            tables = tomllib.load(file)
    except OSError as exc:
        raise DeployError(
            f"stages file {path} (context value `stages_file`): cannot read it "
            f"({exc.strerror or exc})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise DeployError(f"stages file {path}: not TOML ({exc})") from None
    if not tables:
        raise DeployError(f"stages file {path}: names no stage")
    stages: dict[str, StageSettings] = {}
    for name, table in tables.items():
        where = f"stages file {path}, stage {name!r}"
        if not STAGE_NAME.fullmatch(name):
            raise DeployError(
                f"{where}: a stage name is lower-case letters, digits and single hyphens, "
                "starting with a letter, at most 20 characters (it names the stack's resources)"
            )
        if not isinstance(table, dict):
            raise DeployError(f'{where}: expected a table ([{name}] with profile = "...")')
        sizes = dict(table)
        profile = sizes.pop(PROFILE_KEY, None)
        if not isinstance(profile, str) or profile not in STAGES:
            raise DeployError(
                f"{where}: `profile` must be one of {', '.join(STAGES)}, got {profile!r}"
            )
        unknown = sorted(k for k in sizes if k not in StageSettings.model_fields or k == "name")
        if unknown:
            raise DeployError(f"{where}: not a size of a stage: {', '.join(unknown)}")
        try:
            stages[name] = StageSettings.model_validate(
                {**STAGES[profile].model_dump(), **sizes, "name": name}
            )
        except ValidationError as exc:
            raise DeployError(f"{where} (profile {profile}): {_describe(exc)}") from None
    return stages


def resolve(context: Mapping[str, Any]) -> tuple[DeployContext, StageSettings]:
    """The deployment the context asks for; DeployError names the key that is wrong."""
    try:
        deploy = DeployContext.model_validate(
            {k: v for k, v in context.items() if k in DeployContext.model_fields}
        )
    except ValidationError as exc:
        raise DeployError(f"bad context value: {_describe(exc)}") from None
    path = deploy.stages_file or STAGES_FILE
    stages = load_stages(path)
    base = stages.get(deploy.stage)
    if base is None:
        raise DeployError(
            f"unknown stage {deploy.stage!r} (context value `stage`): {path} names "
            f"{', '.join(stages)}"
        )
    overrides = {
        k: v for k, v in context.items() if k in StageSettings.model_fields and k != "name"
    }
    try:
        stage = StageSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise DeployError(f"bad size for stage {base.name!r}: {_describe(exc)}") from None
    if stage.requires_https and not (deploy.certificate_arn and deploy.domain_name):
        raise DeployError(
            f"stage {stage.name!r} needs certificate_arn and domain_name (context values): "
            "API keys, the studio's session and webhooks never cross the internet in clear"
        )
    return deploy, stage


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'context'}: {e['msg']}" for e in exc.errors()
    )
