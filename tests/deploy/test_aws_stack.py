"""The AWS stack (deploy/aws), synthesized once per stage through the same entry as `make synth`
(no AWS account): resources, sizes per stage, IAM kept to what the code calls, cfn-lint clean."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import ManualArgs, lint_file

from deploy.aws.alarms import SpendAlarms
from deploy.aws.app import main
from deploy.aws.data import ADHOC_MEDIA_PREFIX, SCRIPT_MEDIA_PREFIX
from deploy.aws.identity import STUDIO_CALLBACK_PATH, STUDIO_SIGNED_OUT_PATH
from deploy.aws.permissions import UNSCOPED_ACTIONS
from deploy.aws.stages import STAGES, DeployError, resolve
from vsl_pipelines.inbox import dynamodb as inbox_dynamodb
from vsl_pipelines.job_status import dynamodb_table as dynamodb_jobs
from vsl_pipelines.metrics.emf import NAMESPACE as METRIC_NAMESPACE
from vsl_pipelines.settings import Settings
from vsl_pipelines.storage.base import MEDIA_TAG, media_key, media_kind

ADMIN_CIDR = "203.0.113.0/24"
DOMAIN = "vsl.example.com"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c"
PROD_CONTEXT = [
    *("-c", f"admin_cidr={ADMIN_CIDR}"),
    *("-c", f"certificate_arn={CERTIFICATE}"),
    *("-c", f"domain_name={DOMAIN}"),
    *("-c", "auth_domain_prefix=vsl-example-prod"),
    # As the cdk CLI passes it: JSON in a string.
    *("-c", 'spend_alarms={"acme": 25, "beta-studio": 40.5}'),
    *("-c", "daily_spend_alarm_usd=100"),
    *("-c", "alarm_email=ops@example.com"),
]
PROD_SPEND_ALARMS = {"acme": 25, "beta-studio": 40.5}
DAY_S = 86400
ENVIRONMENT = {
    "DAGSTER_HOME",
    "DAGSTER_CODE_SERVER_HOST",
    "DAGSTER_CODE_SERVER_PORT",
    "DAGSTER_WEBSERVER_PORT",
    "VSL_WORKSPACE",
    "DAGSTER_ECS_CLUSTER",
    "DAGSTER_RUN_SUBNETS",
    "DAGSTER_RUN_SECURITY_GROUP",
    "DAGSTER_RUN_PUBLIC_IP",
    "DAGSTER_RUN_CAPACITY",
    "DAGSTER_RUN_LOG_GROUP",
    *(
        f"{prefix}_{field}"
        for prefix in ("DATABASE", "DAGSTER_PG")
        for field in ("HOST", "PORT", "NAME", "ROLE", "SSLMODE", "SSLROOTCERT")
    ),
    "REDIS_URL",
    "VSL_S3_BUCKET",
    "VSL_MEDIA_CDN_URL",
    "VSL_DYNAMODB_TABLE",
    "VSL_DYNAMODB_JOBS_TABLE",
    "AWS_REGION",
    "VSL_SERVICE_HOST",
    "VSL_WEBHOOK_URL",
    "VSL_MEDIA_URL",
    "VSL_ALLOWED_HOSTS",
    "VSL_LOG_LEVEL",
    "VSL_ROLE",
}
# The Dagster processes that launch or watch runs know the run task definition (by ARN).
RUN_ENVIRONMENT = {"DAGSTER_RUN_TASK_DEFINITION", "DAGSTER_RUN_CONTAINER_NAME"}
APP_DB = {"DATABASE_USER", "DATABASE_PASSWORD"}
DAGSTER_DB = {"DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"}
# Each role gets the secrets it uses, no more (the studio's client secret: see below).
SECRETS_BY_ROLE = {
    "webhook": APP_DB
    | {"REPLICATE_API_TOKEN", "REPLICATE_WEBHOOK_SECRET", "VSL_API_KEY", "REDIS_PASSWORD"},
    "webserver": DAGSTER_DB,
    "daemon": DAGSTER_DB,
    "code-server": DAGSTER_DB | APP_DB | {"REPLICATE_API_TOKEN", "REDIS_PASSWORD"},
    "run": DAGSTER_DB | APP_DB | {"REPLICATE_API_TOKEN", "REDIS_PASSWORD"},
}
SECRETS = set().union(*SECRETS_BY_ROLE.values())
# The studio's OpenID client: the webhook service's alone (vsl_pipelines/settings.py).
OIDC_ENVIRONMENT = {"VSL_OIDC_ISSUER", "VSL_OIDC_CLIENT_ID"}
OIDC_SECRET = "VSL_OIDC_CLIENT_SECRET"
# Only the webhook service sits behind the ALB's public listener and reads forwarded headers.
WEBHOOK_ENVIRONMENT = {"FORWARDED_ALLOW_IPS", "VSL_KEEP_ALIVE_S"}
ROLES = ("webhook", "webserver", "daemon", "code-server", "run")
LAUNCHER_ACTIONS = {
    "ecs:RunTask",
    "ecs:DescribeTasks",
    "ecs:StopTask",
    "ecs:DescribeTaskDefinition",
    "ecs:TagResource",
    "iam:PassRole",
}
HTTPS = {"certificate_arn": CERTIFICATE, "domain_name": DOMAIN}
HTTPS_CONTEXT = [
    *("-c", f"certificate_arn={CERTIFICATE}"),
    *("-c", f"domain_name={DOMAIN}"),
]


@pytest.fixture(scope="module")
def synth_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """dev (defaults), prod (HTTPS, admin CIDR, alarms), staging (HTTPS) and small templates,
    written by `make synth`'s entry, with what it printed on stderr."""
    out = tmp_path_factory.mktemp("cloudformation")
    runs = {}
    for stage, context in (
        ("dev", []),
        ("prod", PROD_CONTEXT),
        ("staging", HTTPS_CONTEXT),
        ("small", []),
    ):
        path = out / f"{stage}.template.json"
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            assert main(["--stage", stage, "--out", str(path), *context]) == 0
        runs[stage] = (path, stderr.getvalue())
    return runs


@pytest.fixture(scope="module")
def written(synth_runs: dict[str, tuple[Path, str]]) -> dict[str, Path]:
    return {stage: path for stage, (path, _) in synth_runs.items()}


@pytest.fixture(scope="module")
def dev(written: dict[str, Path]) -> Template:
    return Template.from_json(json.loads(written["dev"].read_text()))


@pytest.fixture(scope="module")
def prod(written: dict[str, Path]) -> Template:
    return Template.from_json(json.loads(written["prod"].read_text()))


@pytest.fixture(scope="module")
def small(written: dict[str, Path]) -> Template:
    return Template.from_json(json.loads(written["small"].read_text()))


def _resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.find_resources(kind)
    return found


def _one(template: Template, kind: str) -> dict[str, Any]:
    (resource,) = _resources(template, kind).values()
    return resource


def _task_definitions(template: Template) -> dict[str, dict[str, Any]]:
    """Task definition properties by role (the family is vsl-<stage>-<role>)."""
    return {
        r["Properties"]["Family"].split("-", 2)[2]: r["Properties"]
        for r in _resources(template, "AWS::ECS::TaskDefinition").values()
    }


def _containers(template: Template) -> dict[str, dict[str, Any]]:
    return {
        c["Name"]: c
        for props in _task_definitions(template).values()
        for c in props["ContainerDefinitions"]
    }


def _services(template: Template) -> dict[str, dict[str, Any]]:
    """ECS service properties by role, through their task definitions."""
    roles = {
        logical_id: r["Properties"]["Family"].split("-", 2)[2]
        for logical_id, r in _resources(template, "AWS::ECS::TaskDefinition").items()
    }
    return {
        roles[s["Properties"]["TaskDefinition"]["Ref"]]: s["Properties"]
        for s in _resources(template, "AWS::ECS::Service").values()
    }


def _statements_of_role(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _task_role_statements(template: Template, role: str) -> list[dict[str, Any]]:
    role_id = _task_definitions(template)[role]["TaskRoleArn"]["Fn::GetAtt"][0]
    return _statements_of_role(template, role_id)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _all_statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _refs(value: Any) -> set[str]:
    """Logical ids a CloudFormation value refers to (Ref / GetAtt, anywhere inside it)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


# -- resources ---------------------------------------------------------------------------------


def test_one_of_each_data_store_and_four_services(dev: Template) -> None:
    dev.resource_count_is("AWS::RDS::DBInstance", 1)
    dev.resource_count_is("AWS::ElastiCache::ReplicationGroup", 1)
    dev.resource_count_is("AWS::DynamoDB::Table", 2)
    dev.resource_count_is("AWS::S3::Bucket", 1)
    dev.resource_count_is("AWS::ECS::Cluster", 1)
    dev.resource_count_is("AWS::ECS::Service", 4)
    dev.resource_count_is("AWS::ECS::TaskDefinition", 6)  # four services, the runs, the set-up
    dev.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 1)
    dev.resource_count_is("AWS::EC2::NatGateway", STAGES["dev"].nat_gateways)
    assert set(_services(dev)) == {"webhook", "webserver", "daemon", "code-server"}


def test_vpc_spans_two_zones_with_public_and_private_subnets(dev: Template) -> None:
    subnets = _resources(dev, "AWS::EC2::Subnet").values()
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    assert len(public) == 2 and len(subnets) == 4


def test_tables_match_the_code_keys_and_ttl_attributes(dev: Template) -> None:
    tables = {
        tuple(k["AttributeName"] for k in t["Properties"]["KeySchema"]): t["Properties"]
        for t in _resources(dev, "AWS::DynamoDB::Table").values()
    }
    inbox, jobs = tables[("pk", "sk")], tables[("jobId",)]
    assert inbox["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in inbox["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "N",
    }
    assert jobs["AttributeDefinitions"] == [{"AttributeName": "jobId", "AttributeType": "S"}]
    for table, ttl in ((inbox, inbox_dynamodb.TTL_ATTRIBUTE), (jobs, dynamodb_jobs.TTL_ATTRIBUTE)):
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}


def test_bucket_is_private_encrypted_and_tls_only(dev: Template) -> None:
    bucket = _one(dev, "AWS::S3::Bucket")["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    dev.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_cloudfront_serves_only_the_final_media_over_https(dev: Template) -> None:
    """Landing pages read the final videos and delivery files through CloudFront, which may
    read `scripts/*/final/*` of the private bucket and nothing else."""
    config = _one(dev, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    assert behavior["ResponseHeadersPolicyId"], "CORS for players on other sites"
    [origin] = config["Origins"]
    assert origin["OriginAccessControlId"]
    assert "OriginGroups" not in config, "one region: no standby bucket to fail over to"
    (policy,) = _resources(dev, "AWS::S3::BucketPolicy").values()
    [read] = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"]["Fn::Join"][1][-1] == f"/{SCRIPT_MEDIA_PREFIX}*/final/*"
    assert media_kind("scripts/s1/final/s1-c3-hls/master.m3u8") == "final"
    assert "FinalMediaUrl" in dev.find_outputs("*")


def test_lifecycle_tiers_media_and_never_expires_compiled_videos(dev: Template) -> None:
    rules = _one(dev, "AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {r.get("Prefix"): r for r in rules if not r.get("TagFilters")}
    take = media_key("s1", "intro", "clip", 2, "mp4")
    compiled = "scripts/s1/final/s1-c1.mp4"  # services/compilation.py
    adhoc = "adhoc/2024-05-01/0f1e2d3c.mp4"  # generation/adhoc.py
    assert take.startswith(SCRIPT_MEDIA_PREFIX) and compiled.startswith(SCRIPT_MEDIA_PREFIX)
    assert adhoc.startswith(ADHOC_MEDIA_PREFIX)
    days = STAGES["dev"].media_transition_days
    for prefix in (SCRIPT_MEDIA_PREFIX, ADHOC_MEDIA_PREFIX):
        assert by_prefix[prefix]["Transitions"] == [
            {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": days}
        ]
    assert by_prefix[ADHOC_MEDIA_PREFIX]["ExpirationInDays"] == STAGES["dev"].adhoc_expiration_days
    # Under `scripts/`, a rule that expires anything names the kind it expires by its tag: the
    # tag the store puts on takes and previews, never the compiled video's.
    expiring = [r for r in rules if "ExpirationInDays" in r or "ExpirationDate" in r]
    under_scripts = [r for r in expiring if compiled.startswith(r.get("Prefix", ""))]
    assert {(r["TagFilters"][0]["Key"], r["TagFilters"][0]["Value"]) for r in under_scripts} == {
        (MEDIA_TAG, "take"), (MEDIA_TAG, "preview"),
    }  # fmt: skip
    assert media_kind(compiled) == "final" and media_kind(take) == "take"
    assert all(len(r["TagFilters"]) == 1 for r in under_scripts)
    days = {r["TagFilters"][0]["Value"]: r["ExpirationInDays"] for r in under_scripts}
    assert days == {"take": STAGES["dev"].take_expiration_days, "preview": 7}


def test_prod_keeps_every_take(prod: Template) -> None:
    rules = _one(prod, "AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    tagged = {r["TagFilters"][0]["Value"]: r for r in rules if r.get("TagFilters")}
    assert set(tagged) == {"preview"}, "prod expires previews only, never takes or videos"
    assert tagged["preview"]["ExpirationInDays"] == STAGES["prod"].preview_expiration_days


def test_database_is_postgres_private_encrypted_with_a_generated_secret(dev: Template) -> None:
    db = _one(dev, "AWS::RDS::DBInstance")["Properties"]
    assert db["Engine"] == "postgres" and db["EngineVersion"].split(".")[0] in {"15", "16"}
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    assert db["BackupRetentionPeriod"] == STAGES["dev"].db_backup_days
    assert db["DBName"] == "dagster"
    private = {
        logical_id
        for logical_id, s in _resources(dev, "AWS::EC2::Subnet").items()
        if not s["Properties"]["MapPublicIpOnLaunch"]
    }
    subnet_group = _one(dev, "AWS::RDS::DBSubnetGroup")["Properties"]
    assert _refs(subnet_group["SubnetIds"]) == private
    assert "{{resolve:secretsmanager:" in json.dumps(db["MasterUserPassword"])


def test_each_database_has_its_own_rotating_user(prod: Template) -> None:
    """No task but the set-up gets the master user: the app and Dagster each connect as their
    own user, whose secret rotates with alternating users (a task started before a rotation
    keeps a valid password until the next one)."""
    secrets = _resources(prod, "AWS::SecretsManager::Secret")
    users = {
        name: logical_id
        for logical_id, r in secrets.items()
        for name in ("vsl", "vsl_app", "vsl_dagster")
        if f'"username":"{name}"'
        in json.dumps(r["Properties"].get("GenerateSecretString", {})).replace('\\"', '"')
    }
    assert set(users) == {"vsl", "vsl_app", "vsl_dagster"}
    schedules = {
        next(iter(_refs(r["Properties"]["SecretId"]))): r["Properties"]
        for r in _resources(prod, "AWS::SecretsManager::RotationSchedule").values()
    }
    attached = {
        next(iter(_refs(r["Properties"]["SecretId"]))): logical_id
        for logical_id, r in _resources(prod, "AWS::SecretsManager::SecretTargetAttachment").items()
    }
    kinds = {}
    for secret_id, schedule in schedules.items():
        user = next(
            u for u, sid in users.items() if attached.get(sid) == secret_id or sid == secret_id
        )
        kinds[user] = schedule["HostedRotationLambda"]["RotationType"]
        assert schedule["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    assert kinds == {
        "vsl": "PostgreSQLSingleUser",
        "vsl_app": "PostgreSQLMultiUser",
        "vsl_dagster": "PostgreSQLMultiUser",
    }
    # TLS is required by the server, and clients check it (verify-full, the RDS CA bundle).
    prod.has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": {"rds.force_ssl": "1"}}
    )
    env = {e["Name"]: e["Value"] for e in _containers(prod)["code-server"]["Environment"]}
    assert env["DATABASE_SSLMODE"] == env["DAGSTER_PG_SSLMODE"] == "verify-full"
    assert env["DATABASE_SSLROOTCERT"].endswith("rds-global-bundle.pem")
    assert (env["DATABASE_ROLE"], env["DAGSTER_PG_ROLE"]) == ("vsl_app", "vsl_dagster")


def test_the_master_user_reaches_the_set_up_task_alone(prod: Template) -> None:
    master_id = next(
        logical_id
        for logical_id, r in _resources(prod, "AWS::SecretsManager::Secret").items()
        if r["Properties"].get("GenerateSecretString", {}).get("SecretStringTemplate")
        == '{"username":"vsl"}'
    )
    attachment = {
        logical_id
        for logical_id, r in _resources(prod, "AWS::SecretsManager::SecretTargetAttachment").items()
        if master_id in _refs(r["Properties"]["SecretId"])
    }
    for name, container in _containers(prod).items():
        refs = _refs(container.get("Secrets", []))
        assert bool(refs & ({master_id} | attachment)) == (name == "setup"), name
    setup = _containers(prod)["setup"]
    assert {s["Name"] for s in setup["Secrets"]} == {
        "MASTER_USER", "MASTER_PASSWORD", "APP_DB_USER", "APP_DB_PASSWORD",
        "DAGSTER_DB_USER", "DAGSTER_DB_PASSWORD",
    }  # fmt: skip
    # The stack runs it (a custom resource) before any service starts.
    (custom_id,) = _resources(prod, "Custom::VslSetupTask")
    for service in _resources(prod, "AWS::ECS::Service").values():
        assert custom_id in service.get("DependsOn", []), service


def test_redis_is_encrypted_and_reached_only_through_its_group(dev: Template) -> None:
    redis = _one(dev, "AWS::ElastiCache::ReplicationGroup")["Properties"]
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["AtRestEncryptionEnabled"] is True
    # AUTH: the token from a secret (a dynamic reference, resolved at deploy).
    assert "{{resolve:secretsmanager:" in json.dumps(redis["AuthToken"])
    (group,) = _refs(redis["SecurityGroupIds"])
    assert "Redis" in group


# -- services ----------------------------------------------------------------------------------


def test_commands_of_each_role(dev: Template) -> None:
    commands = {name: " ".join(c.get("Command", [])) for name, c in _containers(dev).items()}
    # Every role starts through `vsl role`, which checks its settings first.
    assert commands["webserver"] == "vsl role webserver"
    # The daemon puts the runs' network into its instance file first (run_network.py).
    assert commands["daemon"].startswith("sh -c python ") and commands["daemon"].endswith(
        "&& exec vsl role daemon"
    )
    assert commands["code-server"] == "vsl role code-server"
    assert commands["webhook"] == "vsl role service --port 8080"
    assert commands["run"] == ""  # the run launcher gives it
    # Every container starts through the entry point that builds the connection URLs.
    for name, container in _containers(dev).items():
        if name != "setup":
            assert container["EntryPoint"] == [
                "python", "-m", "vsl_pipelines.deployment.database_urls"
            ], name  # fmt: skip


def test_one_image_for_every_container(dev: Template) -> None:
    images = {json.dumps(c["Image"], sort_keys=True) for c in _containers(dev).values()}
    assert len(images) == 1
    assert "ImageTag" in next(iter(images))
    # Tags are immutable: each deploy names its build, there is no `latest` to fall back to.
    (tag,) = [p for i, p in dev.find_parameters("*").items() if "ImageTag" in i]
    assert "Default" not in tag


def test_daemon_runs_alone_and_webhook_service_at_least_twice(dev: Template) -> None:
    services = _services(dev)
    daemon = services["daemon"]
    assert daemon["DesiredCount"] == 1
    assert daemon["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    assert daemon["DeploymentConfiguration"]["MaximumPercent"] == 100
    # The webhook service's count is autoscaling's (min 2): a deploy does not reset it.
    assert "DesiredCount" not in services["webhook"]
    assert "LoadBalancers" in services["webhook"]
    # Without HTTPS (dev) the UI has no listener at all.
    assert "LoadBalancers" not in services["webserver"]
    for service in services.values():
        assert service["LaunchType"] == "FARGATE"
        network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"


def test_code_server_is_found_by_dns_name(dev: Template) -> None:
    dev.has_resource_properties("AWS::ServiceDiscovery::PrivateDnsNamespace", {"Name": "vsl.local"})
    dev.has_resource_properties(
        "AWS::ServiceDiscovery::Service",
        {
            "Name": "code",
            "DnsConfig": Match.object_like({"DnsRecords": [{"Type": "A", "TTL": 10}]}),
        },
    )
    assert "ServiceRegistries" in _services(dev)["code-server"]
    env = {e["Name"]: e["Value"] for e in _containers(dev)["daemon"]["Environment"]}
    assert env["DAGSTER_CODE_SERVER_HOST"] == "code.vsl.local"
    assert env["DAGSTER_CODE_SERVER_PORT"] == "4000"


def test_webhook_service_scales_on_requests_per_target(dev: Template) -> None:
    target = _one(dev, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert target["MinCapacity"] == 2
    assert target["MaxCapacity"] == STAGES["dev"].webhook_max_tasks
    policy = _one(dev, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    metric = tracking["PredefinedMetricSpecification"]
    assert metric["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert tracking["TargetValue"] == STAGES["dev"].webhook_requests_per_target


def test_each_container_gets_the_environment_and_only_the_secrets_its_role_uses(
    dev: Template, prod: Template
) -> None:
    for template, sign_in in ((dev, False), (prod, True)):
        for role in ROLES:
            container = _containers(template)[role]
            environment, secrets = set(ENVIRONMENT), set(SECRETS_BY_ROLE[role])
            if role in ("webserver", "daemon", "code-server"):
                environment |= RUN_ENVIRONMENT
            if role == "webhook":
                environment |= WEBHOOK_ENVIRONMENT
                if sign_in:  # the studio's client exists only with HTTPS (prod's context)
                    environment, secrets = environment | OIDC_ENVIRONMENT, secrets | {OIDC_SECRET}
            assert {e["Name"] for e in container["Environment"]} == environment, role
            assert {s["Name"] for s in container["Secrets"]} == secrets, role
    env = {e["Name"]: e["Value"] for e in _containers(dev)["webhook"]["Environment"]}
    assert env["DAGSTER_HOME"] == "/opt/dagster/ecs"
    assert env["VSL_SERVICE_HOST"] == "0.0.0.0"
    assert env["AWS_REGION"] == {"Ref": "AWS::Region"}
    assert "/webhooks/replicate" in json.dumps(env["VSL_WEBHOOK_URL"])
    assert env["VSL_KEEP_ALIVE_S"] == "75"  # above the ALB's idle timeout (60 s)


def test_every_container_hands_out_final_media_at_the_distribution(
    dev: Template, small: Template
) -> None:
    """`VSL_MEDIA_CDN_URL` is the stack's own distribution (`https://` and its domain), so the
    API, the studio and the watch page give CloudFront URLs for the final objects."""
    for template in (dev, small):
        (distribution_id,) = _resources(template, "AWS::CloudFront::Distribution")
        expected = {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}]]}
        # All but the set-up task, which only makes the databases.
        containers = {k: c for k, c in _containers(template).items() if k != "setup"}
        assert containers
        for name, container in containers.items():
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            assert env.get("VSL_MEDIA_CDN_URL") == expected, name
    # The service reads it as its setting.
    assert Settings.model_fields["media_cdn_url"].alias == "VSL_MEDIA_CDN_URL"


def test_the_webhook_service_references_no_dagster_database_secret(prod: Template) -> None:
    webhook = _task_definitions(prod)["webhook"]
    names = {s["Name"] for c in webhook["ContainerDefinitions"] for s in c.get("Secrets", [])}
    assert not names & DAGSTER_DB
    dagster_user = {
        next(iter(_refs(s["ValueFrom"])))
        for s in _containers(prod)["daemon"]["Secrets"]
        if s["Name"] in DAGSTER_DB
    }
    assert not dagster_user & _refs(webhook["ContainerDefinitions"])
    # Its execution role (which reads the secrets when a task starts) is its own.
    roles = [d["ExecutionRoleArn"]["Fn::GetAtt"][0] for d in _task_definitions(prod).values()]
    assert len(roles) == len(set(roles))


def test_secrets_are_never_plain_environment(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        secret_ids = set(_resources(template, "AWS::SecretsManager::Secret")) | set(
            _resources(template, "AWS::SecretsManager::SecretTargetAttachment")
        )
        for container in _containers(template).values():
            names = {e["Name"] for e in container.get("Environment", [])}
            assert not (SECRETS | {OIDC_SECRET, "MASTER_PASSWORD"}) & names
            for secret in container.get("Secrets", []):
                assert _refs(secret["ValueFrom"]) <= secret_ids


def test_the_set_up_task_runs_before_the_services(dev: Template) -> None:
    """A custom resource (inline Lambda, no asset) runs the set-up task definition at each
    revision and waits for its exit code; every service depends on it."""
    (setup_id,) = [
        i for i, r in _resources(dev, "AWS::ECS::TaskDefinition").items()
        if r["Properties"]["Family"] == "vsl-dev-setup"
    ]  # fmt: skip
    (custom,) = _resources(dev, "Custom::VslSetupTask").values()
    assert custom["Properties"]["TaskDefinition"] == {"Ref": setup_id}
    (function_id,) = _refs(custom["Properties"]["ServiceToken"])
    function = _resources(dev, "AWS::Lambda::Function")[function_id]["Properties"]
    assert "ZipFile" in function["Code"] and "run_task" in function["Code"]["ZipFile"]
    statements = _statements_of_role(dev, function["Role"]["Fn::GetAtt"][0])
    (run,) = [s for s in statements if s["Action"] == "ecs:RunTask"]
    assert ":task-definition/vsl-dev-setup:*" in json.dumps(run["Resource"])


def test_log_groups_per_role_with_the_stage_retention(dev: Template, prod: Template) -> None:
    for template, stage in ((dev, "dev"), (prod, "prod")):
        groups = {
            i: g for i, g in _resources(template, "AWS::Logs::LogGroup").items()
            if "RetentionInDays" in g["Properties"]
        }  # fmt: skip
        assert len(groups) == 5
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == STAGES[stage].log_retention_days
        for name, container in _containers(template).items():
            logging = container["LogConfiguration"]
            assert logging["LogDriver"] == "awslogs", name
            assert _refs(logging["Options"]["awslogs-group"]) <= set(groups)


def test_run_task_definition_uses_the_run_roles(dev: Template) -> None:
    run = _task_definitions(dev)["run"]
    assert [c["Name"] for c in run["ContainerDefinitions"]] == ["run"]
    assert run["Cpu"] == str(STAGES["dev"].run_cpu)
    assert run["EphemeralStorage"] == {"SizeInGiB": STAGES["dev"].run_ephemeral_gib}
    # The launcher gets this revision by ARN (a Ref of the task definition is its ARN).
    (run_id,) = [
        i for i, r in _resources(dev, "AWS::ECS::TaskDefinition").items()
        if r["Properties"]["Family"] == "vsl-dev-run"
    ]  # fmt: skip
    for role in ("daemon", "webserver", "code-server"):
        env = {e["Name"]: e["Value"] for e in _containers(dev)[role]["Environment"]}
        assert env["DAGSTER_RUN_TASK_DEFINITION"] == {"Ref": run_id}, role


# -- IAM ---------------------------------------------------------------------------------------


def test_no_statement_passes_any_role(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        for statement in _all_statements(template):
            if "iam:PassRole" in _as_list(statement["Action"]) or "iam:*" in _as_list(
                statement["Action"]
            ):
                assert "*" not in _as_list(statement["Resource"])


def test_star_resources_only_for_actions_that_take_no_resource(dev: Template) -> None:
    for statement in _all_statements(dev):
        if "*" in _as_list(statement["Resource"]):
            assert set(_as_list(statement["Action"])) <= UNSCOPED_ACTIONS, statement


def test_daemon_has_what_the_run_launcher_calls(dev: Template) -> None:
    statements = _task_role_statements(dev, "daemon")
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert actions - {"logs:GetLogEvents"} == LAUNCHER_ACTIONS
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    run = _task_definitions(dev)["run"]
    assert pass_role["Resource"] == [run["TaskRoleArn"], run["ExecutionRoleArn"]]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    (run_task,) = [s for s in statements if s["Action"] == "ecs:RunTask"]
    (cluster_id,) = _resources(dev, "AWS::ECS::Cluster")
    assert run_task["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster_id, "Arn"]}}
    }
    for statement in statements:
        if {"ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"} & set(
            _as_list(statement["Action"])
        ):
            assert cluster_id in _refs(statement["Resource"])  # task/<cluster>/*


def test_run_task_is_scoped_to_the_run_task_definition(prod: Template) -> None:
    """No role may register a task definition; RunTask names the stage's run family only."""
    for statement in _all_statements(prod):
        assert "ecs:RegisterTaskDefinition" not in _as_list(statement["Action"])
        if "ecs:RunTask" in _as_list(statement["Action"]):
            (resource,) = _as_list(statement["Resource"])
            family = json.dumps(resource)
            assert family.endswith(':task-definition/vsl-prod-run:*"]]}') or family.endswith(
                ':task-definition/vsl-prod-setup:*"]]}'
            ), family


def test_webserver_may_only_watch_and_stop_runs_and_read_their_logs(dev: Template) -> None:
    statements = _task_role_statements(dev, "webserver")
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert actions == {
        "ecs:DescribeTasks", "ecs:StopTask", "ecs:DescribeTaskDefinition",
        "s3:GetObject", "s3:ListBucket",
        # ECS Exec: the UI's port forward, its session logged
        "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
        "logs:DescribeLogGroups", "logs:CreateLogStream", "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    }  # fmt: skip
    (logs,) = [s for s in statements if s.get("Sid") == "ComputeLogs"]
    assert "dagster/compute-logs/*" in json.dumps(logs["Resource"])


def test_app_roles_reach_only_the_bucket_and_the_tables(dev: Template) -> None:
    allowed = set(_resources(dev, "AWS::S3::Bucket")) | set(_resources(dev, "AWS::DynamoDB::Table"))
    for role in ("webhook", "code-server", "run"):
        statements = _task_role_statements(dev, role)
        actions = {a.split(":")[0] for s in statements for a in _as_list(s["Action"])}
        assert actions == {"s3", "dynamodb"}, role
        assert set().union(*(_refs(s["Resource"]) for s in statements)) == allowed, role


def test_no_task_role_deletes_objects_or_scans(prod: Template) -> None:
    """Lifecycle rules and TTL delete; nothing here reads a table whole."""
    task_roles = {d["TaskRoleArn"]["Fn::GetAtt"][0] for d in _task_definitions(prod).values()}
    for role in task_roles:
        for statement in _statements_of_role(prod, role):
            for action in _as_list(statement["Action"]):
                assert "Delete" not in action and not action.endswith("*"), (role, action)
                assert action not in {"dynamodb:Scan", "dynamodb:BatchWriteItem"}, (role, action)
    # The public service writes the inbox, reads the media it presigns and writes the outputs
    # it collects at their webhooks: nothing more.
    webhook = {a for s in _task_role_statements(prod, "webhook") for a in _as_list(s["Action"])}
    assert webhook == {
        "s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:PutObjectTagging",
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
    }  # fmt: skip


# -- network -----------------------------------------------------------------------------------


def _ingress(template: Template) -> set[tuple[str, int, str]]:
    """(group, port, source group or CIDR) of every ingress rule, group names as logical ids."""
    rules = set()
    for rule in _resources(template, "AWS::EC2::SecurityGroupIngress").values():
        props = rule["Properties"]
        (group,) = _refs(props["GroupId"])
        source = (
            next(iter(_refs(props["SourceSecurityGroupId"])))
            if "SourceSecurityGroupId" in props
            else props["CidrIp"]
        )
        rules.add((group, props["FromPort"], source))
    for group_id, group in _resources(template, "AWS::EC2::SecurityGroup").items():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            rules.add((group_id, rule["FromPort"], rule["CidrIp"]))
    return rules


def _group(template: Template, name: str) -> str:
    (found,) = [g for g in _resources(template, "AWS::EC2::SecurityGroup") if name in g]
    return found


def test_traffic_matrix(dev: Template) -> None:
    g = {
        name: _group(dev, f"{name}SecurityGroup")
        for name in ("Alb", "Webhook", "Webserver", "Daemon", "CodeServer", "Run", "Setup")
    }
    g["Database"] = _group(dev, "DatabaseSecurityGroup")
    g["Redis"] = _group(dev, "RedisSecurityGroup")
    expected = {
        (g["Alb"], 80, "0.0.0.0/0"),
        (g["Webhook"], 8080, g["Alb"]),
        (g["Webserver"], 3000, g["Alb"]),
        (g["CodeServer"], 4000, g["Webserver"]),
        (g["CodeServer"], 4000, g["Daemon"]),
        *((g["Database"], 5432, g[n]) for n in ("Webhook", "Webserver", "Daemon", "CodeServer")),
        (g["Database"], 5432, g["Run"]),
        (g["Database"], 5432, g["Setup"]),
        # the secret rotation functions (master, app user, Dagster user)
        *(
            (g["Database"], 5432, r)
            for r in _resources(dev, "AWS::EC2::SecurityGroup")
            if "Rotation" in r
        ),
        *((g["Redis"], 6379, g[n]) for n in ("Webhook", "CodeServer", "Run")),
    }
    assert _ingress(dev) == expected
    # Runs start in their own group (not the daemon's): they never reach the code server.
    instance = (Path(__file__).resolve().parents[2] / "deploy/dagster/ecs/dagster.yaml").read_text()
    assert "use_current_ecs_task_config: false" in instance
    env = {e["Name"]: e["Value"] for e in _containers(dev)["daemon"]["Environment"]}
    assert env["DAGSTER_RUN_SECURITY_GROUP"] == {"Fn::GetAtt": [g["Run"], "GroupId"]}
    daemon = _services(dev)["daemon"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert _refs(daemon["SecurityGroups"]) == {g["Daemon"]}


def test_dagster_ui_is_open_only_to_the_admin_cidr(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        assert not [r for r in _ingress(template) if r[1] == 3000 and r[2] == "0.0.0.0/0"]
    assert not [r for r in _ingress(dev) if r[1] == 3000 and "/" in r[2]]
    alb = _group(prod, "AlbSecurityGroup")
    public = {(port, source) for group, port, source in _ingress(prod) if group == alb}
    assert public == {(443, "0.0.0.0/0"), (80, "0.0.0.0/0"), (3000, ADMIN_CIDR)}
    listeners = [
        r["Properties"] for r in _resources(prod, "AWS::ElasticLoadBalancingV2::Listener").values()
    ]
    assert {(listener["Port"], listener["Protocol"]) for listener in listeners} == {
        (443, "HTTPS"),
        (80, "HTTP"),
        (3000, "HTTPS"),
    }


# -- sign-in -----------------------------------------------------------------------------------


def _user_pool(template: Template) -> tuple[str, dict[str, Any]]:
    ((logical_id, pool),) = _resources(template, "AWS::Cognito::UserPool").items()
    return logical_id, pool


def _clients(template: Template) -> dict[str, tuple[str, dict[str, Any]]]:
    """App clients (logical id, properties) by what they serve: their name is vsl-<stage>-<what>."""
    return {
        r["Properties"]["ClientName"].split("-", 2)[2]: (logical_id, r["Properties"])
        for logical_id, r in _resources(template, "AWS::Cognito::UserPoolClient").items()
    }


def _listener(template: Template, port: int) -> tuple[str, dict[str, Any]]:
    ((logical_id, listener),) = [
        (logical_id, r["Properties"])
        for logical_id, r in _resources(template, "AWS::ElasticLoadBalancingV2::Listener").items()
        if r["Properties"]["Port"] == port
    ]
    return logical_id, listener


def test_people_are_invited_to_a_user_pool_by_email(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        pool_id, pool = _user_pool(template)
        props = pool["Properties"]
        assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no sign-up
        assert props["UsernameAttributes"] == ["email"]
        assert props["UsernameConfiguration"] == {"CaseSensitive": False}
        assert props["AutoVerifiedAttributes"] == ["email"]
        # A new email counts only once verified: the studio matches members by it.
        assert props["UserAttributeUpdateSettings"] == {
            "AttributesRequireVerificationBeforeUpdate": ["email"]
        }
        policy = props["Policies"]["PasswordPolicy"]
        assert policy["MinimumLength"] >= 12
        assert policy["RequireLowercase"] and policy["RequireUppercase"]
        assert policy["RequireNumbers"]
        assert props["MfaConfiguration"] == "OPTIONAL"
        assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
        (domain,) = _resources(template, "AWS::Cognito::UserPoolDomain").values()
        assert domain["Properties"]["UserPoolId"] == {"Ref": pool_id}
    assert _user_pool(prod)[1]["Properties"]["DeletionProtection"] == "ACTIVE"
    assert _user_pool(dev)[1]["Properties"].get("DeletionProtection", "INACTIVE") == "INACTIVE"


def test_sign_in_domain_prefix_is_per_stack_unless_given(dev: Template, prod: Template) -> None:
    (domain,) = _resources(dev, "AWS::Cognito::UserPoolDomain").values()
    prefix = domain["Properties"]["Domain"]["Fn::Join"]
    assert prefix[0] == "-" and prefix[1][0] == "vsl-dev"
    assert "AWS::StackId" in json.dumps(prefix[1][1])
    (domain,) = _resources(prod, "AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["Domain"] == "vsl-example-prod"


def test_studio_client_uses_the_code_grant_with_a_secret(prod: Template) -> None:
    from vsl_pipelines.web.studio.oidc import SCOPES

    pool_id, _ = _user_pool(prod)
    _, studio = _clients(prod)["studio"]
    assert studio["UserPoolId"] == {"Ref": pool_id}
    assert studio["AllowedOAuthFlows"] == ["code"]  # no implicit grant, no client credentials
    assert studio["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(studio["AllowedOAuthScopes"]) == sorted(SCOPES.split())
    assert set(studio["AllowedOAuthScopes"]) == {"openid", "email", "profile"}
    assert (STUDIO_CALLBACK_PATH, STUDIO_SIGNED_OUT_PATH) == ("/studio/auth/callback", "/studio")
    assert studio["CallbackURLs"] == [f"https://{DOMAIN}/studio/auth/callback"]
    assert studio["LogoutURLs"] == [f"https://{DOMAIN}/studio"]
    assert studio["GenerateSecret"] is True
    assert studio["SupportedIdentityProviders"] == ["COGNITO"]
    assert {"email", "email_verified"} <= set(studio["ReadAttributes"])


def test_without_https_no_client_and_a_warning(
    dev: Template, synth_runs: dict[str, tuple[Path, str]]
) -> None:
    """Cognito calls back to https:// only and the ALB authenticates on HTTPS only: dev (no
    certificate) gets the pool, no client, the UI forwarded as before, and a warning."""
    dev.resource_count_is("AWS::Cognito::UserPoolClient", 0)
    ports = {
        r["Properties"]["Port"]
        for r in _resources(dev, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert ports == {80}  # no UI listener: the UI through ECS Exec
    assert "No certificate_arn" in synth_runs["dev"][1]
    assert "ECS Exec" in synth_runs["dev"][1]
    assert "warning" not in synth_runs["prod"][1]


def test_dagster_ui_signs_in_with_cognito_before_forwarding(prod: Template) -> None:
    pool_id, _ = _user_pool(prod)
    (domain_id,) = _resources(prod, "AWS::Cognito::UserPoolDomain")
    ui_client_id, ui_client = _clients(prod)["dagster-ui"]
    listener_id, listener = _listener(prod, 3000)
    assert listener["Protocol"] == "HTTPS"
    first, then = sorted(listener["DefaultActions"], key=lambda a: a["Order"])
    assert (first["Type"], then["Type"]) == ("authenticate-cognito", "forward")
    config = first["AuthenticateCognitoConfig"]
    assert config["UserPoolArn"] == {"Fn::GetAtt": [pool_id, "Arn"]}
    assert config["UserPoolClientId"] == {"Ref": ui_client_id}
    assert config["UserPoolDomain"] == {"Ref": domain_id}
    assert config.get("OnUnauthenticatedRequest", "authenticate") == "authenticate"
    balancers = _services(prod)["webserver"]["LoadBalancers"]
    assert [then["TargetGroupArn"]] == [lb["TargetGroupArn"] for lb in balancers]
    # No rule of the listener reaches the UI around the sign-in.
    rules = _resources(prod, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    assert not [r for r in rules if listener_id in _refs(r["Properties"]["ListenerArn"])]
    # Its own client: the ALB's callback on the UI's host and port, code grant, a secret.
    assert ui_client["CallbackURLs"] == [f"https://{DOMAIN}:3000/oauth2/idpresponse"]
    assert ui_client["AllowedOAuthFlows"] == ["code"]
    assert ui_client["GenerateSecret"] is True
    assert "openid" in ui_client["AllowedOAuthScopes"]
    # The ALB reaches Cognito's token endpoint; the admin CIDR still guards the port.
    alb = _resources(prod, "AWS::EC2::SecurityGroup")[_group(prod, "AlbSecurityGroup")]
    egress = alb["Properties"]["SecurityGroupEgress"]
    assert {(e["FromPort"], e["CidrIp"]) for e in egress if "CidrIp" in e} == {(443, "0.0.0.0/0")}


def test_only_the_service_gets_the_studio_client(prod: Template) -> None:
    fields = Settings.model_fields
    assert {fields["oidc_issuer"].alias, fields["oidc_client_id"].alias} == OIDC_ENVIRONMENT
    assert fields["oidc_client_secret"].alias == OIDC_SECRET
    pool_id, _ = _user_pool(prod)
    studio_id, _ = _clients(prod)["studio"]
    webhook = _containers(prod)["webhook"]
    env = {e["Name"]: e["Value"] for e in webhook["Environment"]}
    assert env["VSL_OIDC_CLIENT_ID"] == {"Ref": studio_id}
    assert env["VSL_OIDC_ISSUER"] == {
        "Fn::Join": [
            "",
            [
                "https://cognito-idp.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/",
                {"Ref": pool_id},
            ],
        ]
    }
    assert OIDC_SECRET not in env
    (secret,) = [s for s in webhook["Secrets"] if s["Name"] == OIDC_SECRET]
    (secret_id,) = _refs(secret["ValueFrom"])
    stored = _resources(prod, "AWS::SecretsManager::Secret")[secret_id]["Properties"]
    # Filled from the client when CloudFormation creates it: the template holds no secret.
    assert stored["SecretString"] == {"Fn::GetAtt": [studio_id, "ClientSecret"]}
    for name, container in _containers(prod).items():
        if name == "webhook":
            continue
        names = {e["Name"] for e in container.get("Environment", [])}
        names |= {s["Name"] for s in container.get("Secrets", [])}
        assert not (OIDC_ENVIRONMENT | {OIDC_SECRET}) & names, name
        assert secret_id not in _refs(container.get("Secrets", [])), name
    # Only the execution role (ECS, which hands it to the container at start) may read it.
    readers = {
        role
        for policy in _resources(prod, "AWS::IAM::Policy").values()
        if secret_id in _refs(policy["Properties"]["PolicyDocument"])
        for role in _refs(policy["Properties"]["Roles"])
    }
    assert readers == {_task_definitions(prod)["webhook"]["ExecutionRoleArn"]["Fn::GetAtt"][0]}
    task_roles = {d["TaskRoleArn"]["Fn::GetAtt"][0] for d in _task_definitions(prod).values()}
    assert not readers & task_roles


def test_service_trusts_forwarded_headers_from_the_alb_subnets_only(dev: Template) -> None:
    """uvicorn takes the scheme (the studio's https:// callback) and the client's address from
    X-Forwarded-* only when the connection comes from one of these networks."""
    public = {
        s["Properties"]["CidrBlock"]
        for s in _resources(dev, "AWS::EC2::Subnet").values()
        if s["Properties"]["MapPublicIpOnLaunch"]
    }
    env = {e["Name"]: e["Value"] for e in _containers(dev)["webhook"]["Environment"]}
    assert set(env["FORWARDED_ALLOW_IPS"].split(",")) == public
    assert (_one(dev, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["Subnets"]) == [
        {"Ref": i}
        for i, s in _resources(dev, "AWS::EC2::Subnet").items()
        if s["Properties"]["MapPublicIpOnLaunch"]
    ]


# -- spend alarms ------------------------------------------------------------------------------


def _spend_alarms(template: Template) -> dict[str | None, dict[str, Any]]:
    """Alarm properties by the workspace their metric's dimension names; None: the total."""
    alarms: dict[str | None, dict[str, Any]] = {}
    for alarm in _resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") != "SpendUSD":
            continue
        dimensions = props.get("Dimensions", [])
        assert [d["Name"] for d in dimensions] in ([], ["workspace"]), dimensions
        alarms[dimensions[0]["Value"] if dimensions else None] = props
    return alarms


def _topic(template: Template) -> tuple[str, dict[str, Any]]:
    ((topic_id, topic),) = _resources(template, "AWS::SNS::Topic").items()
    return topic_id, topic["Properties"]


def test_spend_alarm_per_workspace_and_for_the_total(prod: Template) -> None:
    """One alarm per `spend_alarms` entry on SpendUSD{workspace=<slug>}, one on SpendUSD without
    dimension for `daily_spend_alarm_usd`: the sum over a day above the threshold notifies the
    topic; a day without a prediction (no data) is fine."""
    topic_id, _ = _topic(prod)
    alarms = _spend_alarms(prod)
    assert set(alarms) == {*PROD_SPEND_ALARMS, None}
    thresholds = {**PROD_SPEND_ALARMS, None: 100}
    for workspace, props in alarms.items():
        assert props["Namespace"] == METRIC_NAMESPACE == "VSL/MediaGeneration"
        assert props["MetricName"] == "SpendUSD"
        assert props["Statistic"] == "Sum"
        assert props["Period"] == DAY_S and props["EvaluationPeriods"] == 1
        assert props["Threshold"] == thresholds[workspace]
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["AlarmName"].startswith("vsl-prod-spend-")
    assert alarms["acme"]["Dimensions"] == [{"Name": "workspace", "Value": "acme"}]
    assert "Dimensions" not in alarms[None]
    assert prod.find_outputs("AlarmTopicArn") == {"AlarmTopicArn": {"Value": {"Ref": topic_id}}}


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(prod: Template) -> None:
    """CloudWatch cannot publish to a topic under the AWS-managed aws/sns key: the topic has a key
    of its own whose policy, like the topic's, lets CloudWatch in for this stack's alarms alone
    (their names start with the stack's); the operator's address is subscribed."""
    topic_id, topic = _topic(prod)
    (key_id,) = _resources(prod, "AWS::KMS::Key")
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key = _resources(prod, "AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    (topic_policy,) = _resources(prod, "AWS::SNS::TopicPolicy").values()
    assert topic_policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    for statements, actions in (
        (key["KeyPolicy"]["Statement"], ["kms:Decrypt", "kms:GenerateDataKey*"]),
        (topic_policy["Properties"]["PolicyDocument"]["Statement"], "sns:Publish"),
    ):
        (by_cloudwatch,) = [
            s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        ]
        assert by_cloudwatch["Effect"] == "Allow" and by_cloudwatch["Action"] == actions
        conditions = by_cloudwatch["Condition"]
        assert conditions["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert ":alarm:vsl-prod-*" in json.dumps(conditions["ArnLike"]["aws:SourceArn"])
    prod.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": topic_id}},
    )


def test_dev_alarms_on_its_total_by_default(dev: Template) -> None:
    alarms = _spend_alarms(dev)
    assert set(alarms) == {None}
    assert alarms[None]["Threshold"] == STAGES["dev"].daily_spend_alarm_usd
    dev.resource_count_is("AWS::SNS::Subscription", 0)  # no alarm_email


OPERATIONAL_ALARMS = {
    "alb-5xx", "target-5xx", "webhook-unhealthy-targets", "webserver-unhealthy-targets",
    "daemon-not-running", "db-cpu", "db-free-storage", "db-connections", "failed-runs",
}  # fmt: skip


def _operational_alarms(template: Template, stage: str) -> dict[str, dict[str, Any]]:
    return {
        props["AlarmName"].removeprefix(f"vsl-{stage}-"): props
        for r in _resources(template, "AWS::CloudWatch::Alarm").values()
        if (props := r["Properties"]).get("MetricName") != "SpendUSD"
    }


def test_operational_alarms_notify_the_alarm_topic(prod: Template, small: Template) -> None:
    """The load balancer's 5xx and unhealthy targets, the daemon not running, RDS CPU, storage
    and connections, failed runs: each to the one topic (the spend alarms' too), back to OK
    as well."""
    topic_id, _ = _topic(prod)
    alarms = _operational_alarms(prod, "prod")
    assert set(alarms) == OPERATIONAL_ALARMS
    for name, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": topic_id}], name
        assert props["OKActions"] == [{"Ref": topic_id}], name
    daemon = alarms["daemon-not-running"]
    assert (daemon["MetricName"], daemon["Statistic"]) == ("CPUUtilization", "SampleCount")
    assert daemon["ComparisonOperator"] == "LessThanThreshold"
    assert daemon["TreatMissingData"] == "breaching"  # no task: no sample at all
    (daemon_service,) = [
        d["Value"] for d in daemon["Dimensions"] if d["Name"] == "ServiceName"
    ]  # fmt: skip
    assert _refs(daemon_service) <= {
        i for i, r in _resources(prod, "AWS::ECS::Service").items()
        if _services(prod)["daemon"] == r["Properties"]
    } or "Daemon" in json.dumps(daemon_service)  # fmt: skip
    assert alarms["alb-5xx"]["MetricName"] == "HTTPCode_ELB_5XX_Count"
    assert alarms["db-free-storage"]["MetricName"] == "FreeStorageSpace"
    assert alarms["failed-runs"]["Namespace"] == "VSL/Dagster"
    filters = [r["Properties"] for r in _resources(prod, "AWS::Logs::MetricFilter").values()]
    assert {f["FilterPattern"] for f in filters} == {
        '"RUN_FAILURE"', '"Detected run worker status FAILED"'
    }  # fmt: skip
    assert len(_resources(prod, "AWS::CloudWatch::Alarm")) >= 5
    prod.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    # The small profile (no load balancer) alarms on the rest, to its own topic.
    small_alarms = _operational_alarms(small, "small")
    assert set(small_alarms) == OPERATIONAL_ALARMS - {
        "alb-5xx", "target-5xx", "webhook-unhealthy-targets", "webserver-unhealthy-targets"
    }  # fmt: skip
    small.resource_count_is("AWS::SNS::Topic", 1)


def test_the_daemon_is_health_checked_by_its_liveness(dev: Template, small: Template) -> None:
    for template in (dev, small):
        daemon = _containers(template)["daemon"]
        assert daemon["HealthCheck"]["Command"] == ["CMD", "vsl", "health"]
        env = {e["Name"]: e["Value"] for e in daemon["Environment"]}
        assert env["VSL_ROLE"] == "daemon"  # `vsl health`: dagster-daemon liveness-check
    assert _services(dev)["webserver"]["EnableExecuteCommand"] is True


def _alarms_only(context: dict[str, Any]) -> tuple[SpendAlarms, Template]:
    """The spend alarms the context asks for, alone in a stack (no full synth)."""
    from aws_cdk import App, Stack

    deploy, stage = resolve({**HTTPS, **context})
    stack = Stack(App(), "AlarmsOnly")
    alarms = SpendAlarms(stack, "Alarms", stage=stage, context=deploy)
    return alarms, Template.from_stack(stack)


def test_no_alarm_and_no_topic_unless_configured() -> None:
    from aws_cdk import Stack

    assert STAGES["prod"].daily_spend_alarm_usd is None
    for context in ({"stage": "prod"}, {"stage": "dev", "daily_spend_alarm_usd": "none"}):
        alarms, template = _alarms_only(context)
        assert alarms.topic is None and not alarms.alarms
        assert not template.to_json().get("Resources")
    # An address with nothing to send it is said, not silently dropped.
    alarms, _ = _alarms_only({"stage": "prod", "alarm_email": "ops@example.com"})
    Annotations.from_stack(Stack.of(alarms)).has_warning(
        "*", Match.string_like_regexp("alarm_email is set but no spend alarm")
    )
    # Workspaces alone, as a mapping: their alarms, no total.
    alarms, template = _alarms_only({"stage": "prod", "spend_alarms": {"acme": 3}})
    assert set(_spend_alarms(template)) == {"acme"}


def test_spend_alarm_context_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    as_json, _ = resolve({"spend_alarms": '{"acme": 25, "b2": 0.5}'})
    as_mapping, _ = resolve({"spend_alarms": {"acme": 25, "b2": 0.5}})
    assert as_json.spend_alarms == as_mapping.spend_alarms == {"acme": 25.0, "b2": 0.5}
    assert resolve({"spend_alarms": ""})[0].spend_alarms == {}
    for bad in (
        '{"ACME": 25}',  # not a slug
        '{"-acme": 25}',
        {"a" * 64: 25},
        '{"acme": 0}',  # not positive
        {"acme": -5},
        '{"acme": "lots"}',
        '{"acme": true}',
        {"acme": float("inf")},
        '{"acme": 25',  # not JSON
        '["acme", 25]',  # not a mapping
        "acme=25",
    ):
        with pytest.raises(DeployError, match="spend_alarms"):
            resolve({"spend_alarms": bad})
    for bad_total in ("0", "-1", "nan", "lots"):
        with pytest.raises(DeployError, match="daily_spend_alarm_usd"):
            resolve({"stage": "staging", "daily_spend_alarm_usd": bad_total, **HTTPS})
    assert resolve({"daily_spend_alarm_usd": "12.5"})[1].daily_spend_alarm_usd == 12.5
    _, staging = resolve({"stage": "staging", "daily_spend_alarm_usd": "off", **HTTPS})
    assert staging.daily_spend_alarm_usd is None
    with pytest.raises(DeployError, match="alarm_email"):
        resolve({"alarm_email": "ops at example.com"})
    assert main(["--out", "/dev/null", "-c", 'spend_alarms={"Acme": 1}']) == 2
    assert "spend_alarms" in capsys.readouterr().err


# -- stages ------------------------------------------------------------------------------------


def test_prod_retains_data_and_dev_does_not(dev: Template, prod: Template) -> None:
    prod_db = _one(prod, "AWS::RDS::DBInstance")
    assert prod_db["Properties"]["DeletionProtection"] is True
    assert prod_db["Properties"]["MultiAZ"] is True
    assert prod_db["DeletionPolicy"] == "Snapshot"
    dev_db = _one(dev, "AWS::RDS::DBInstance")
    assert dev_db["Properties"]["DeletionProtection"] is False
    assert dev_db["DeletionPolicy"] == "Delete"
    kinds = (
        "DynamoDB::Table",
        "S3::Bucket",
        "Logs::LogGroup",
        "SecretsManager::Secret",
        "Cognito::UserPool",
    )
    for kind in (f"AWS::{k}" for k in kinds):
        assert {r["DeletionPolicy"] for r in _resources(prod, kind).values()} == {"Retain"}, kind
        assert {r["DeletionPolicy"] for r in _resources(dev, kind).values()} == {"Delete"}, kind
    for template, enabled in ((prod, True), (dev, False)):
        for table in _resources(template, "AWS::DynamoDB::Table").values():
            recovery = table["Properties"]["PointInTimeRecoverySpecification"]
            assert recovery["PointInTimeRecoveryEnabled"] is enabled
    assert _one(prod, "AWS::S3::Bucket")["Properties"]["VersioningConfiguration"] == {
        "Status": "Enabled"
    }
    prod_scaling = _one(prod, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert prod_scaling["MaxCapacity"] == STAGES["prod"].webhook_max_tasks
    assert _one(prod, "AWS::RDS::DBInstance")["Properties"]["DBInstanceClass"] == "db.m7g.large"


def test_outputs(dev: Template) -> None:
    outputs = dev.find_outputs("*")
    assert {"AlbDnsName", "MediaBucketName", "ClusterName"} <= set(outputs)
    assert {"UserPoolId", "SignInDomainUrl", "OidcIssuer"} <= set(outputs)


def test_template_passes_cfn_lint(written: dict[str, Path]) -> None:
    # W3005: CDK puts the target group in an ECS service's DependsOn although the service already
    # refers to it; the duplicate dependency is harmless and not ours to remove.
    config = ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"])
    assert set(written) == set(STAGES)
    for stage, path in written.items():
        matches = lint_file(path, config=config)
        assert not matches, f"{stage}: " + "\n".join(str(m) for m in matches)


# -- context -----------------------------------------------------------------------------------


def test_staging_and_prod_refuse_to_synthesize_without_https(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for stage in ("staging", "prod"):
        with pytest.raises(DeployError, match="needs certificate_arn and domain_name"):
            resolve({"stage": stage})
        with pytest.raises(DeployError, match="needs certificate_arn and domain_name"):
            resolve({"stage": stage, "domain_name": DOMAIN})  # no certificate
        assert main(["--stage", stage, "--out", "/dev/null"]) == 2
        assert "needs certificate_arn" in capsys.readouterr().err
    resolve({"stage": "prod", **HTTPS})
    resolve({"stage": "dev"})  # dev may run on plain HTTP (with a warning)


def test_unknown_stage_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DeployError, match=r"unknown stage 'qa'.*dev, staging, prod, small"):
        resolve({"stage": "qa"})
    assert main(["--stage", "qa", "--out", "/dev/null"]) == 2
    assert "unknown stage 'qa'" in capsys.readouterr().err


def test_context_values_are_checked_and_may_override_sizes() -> None:
    with pytest.raises(DeployError, match="admin_cidr"):
        resolve({"stage": "dev", "admin_cidr": "everyone"})
    for everyone in ("0.0.0.0/0", "0.0.0.0/1", "10.0.0.0/7"):
        with pytest.raises(DeployError, match="admin_cidr"):
            resolve({"stage": "dev", "admin_cidr": everyone})
    with pytest.raises(DeployError, match="webhook_max_tasks"):
        resolve({"stage": "dev", "webhook_max_tasks": "1"})
    with pytest.raises(DeployError, match="domain_name"):
        resolve({"stage": "dev", "certificate_arn": "arn:aws:acm:us-east-1:1:certificate/x"})
    with pytest.raises(DeployError, match="auth_domain_prefix"):
        resolve({"stage": "dev", "auth_domain_prefix": "vsl-aws-login"})  # a reserved word
    with pytest.raises(DeployError, match="auth_domain_prefix"):
        resolve({"stage": "dev", "auth_domain_prefix": "Vsl_Login"})
    with pytest.raises(DeployError, match="auth_mfa"):
        resolve({"stage": "dev", "auth_mfa": "sometimes"})
    _, stage = resolve(
        {"stage": "prod", "webhook_max_tasks": "40", "media_transition_days": "0", **HTTPS}
    )
    assert stage.webhook_max_tasks == 40 and stage.media_transition_days == 0
    assert stage.retain_data is True


@pytest.mark.parametrize(
    ("image", "pull_from"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/vsl-pipelines:1.4.0", "vsl-pipelines"),
        ("ghcr.io/acme/vsl-pipelines:1.4.0", None),
    ],
)
def test_image_from_context(image: str, pull_from: str | None) -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_ecs as ecs

    from deploy.aws.services import container_image

    stack = Stack(App(), "ImageOnly")
    definition = ecs.FargateTaskDefinition(stack, "Task")
    definition.add_container(
        "app", image=container_image(stack, resolve({"image": image})[0]), memory_limit_mib=512
    )
    template = Template.from_stack(stack)
    (task,) = _resources(template, "AWS::ECS::TaskDefinition").values()
    uri = task["Properties"]["ContainerDefinitions"][0]["Image"]
    assert not template.find_parameters("ImageTag")
    pulls = [s for s in _all_statements(template) if "ecr:BatchGetImage" in _as_list(s["Action"])]
    if pull_from is None:
        assert uri == image
        assert not pulls
    else:
        prefix, suffix, tail = uri["Fn::Join"][1]  # the partition's URL suffix in the middle
        assert (prefix, suffix, tail) == (
            "123456789012.dkr.ecr.eu-west-1.",
            {"Ref": "AWS::URLSuffix"},
            "/vsl-pipelines:1.4.0",
        )
        (pull,) = pulls
        assert f":123456789012:repository/{pull_from}" in json.dumps(pull["Resource"])


def test_every_setting_the_instance_files_read_is_given(dev: Template) -> None:
    """`vsl role` stops a task whose instance or workspace file names an unset variable:
    every variable they read comes with every container, as environment or secret."""
    import yaml

    from vsl_pipelines.deployment.preflight import env_names

    root = Path(__file__).resolve().parents[2] / "deploy" / "dagster"
    read = set()
    for path in (root / "ecs" / "dagster.yaml", root / "workspace.yaml"):
        read |= set(env_names(yaml.safe_load(path.read_text())))
    assert read
    assert read <= ENVIRONMENT | RUN_ENVIRONMENT | SECRETS


def test_the_roles_that_store_media_may_tag_it(dev: Template) -> None:
    """A PUT with a tag needs s3:PutObjectTagging besides s3:PutObject (else AccessDenied)."""
    policies = _resources(dev, "AWS::IAM::Policy").values()
    actions = [
        statement["Action"]
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    putting = [a for a in actions if isinstance(a, list) and "s3:PutObject" in a]
    assert putting and all("s3:PutObjectTagging" in a for a in putting)


def _starts_with(statement: dict[str, Any]) -> set[str]:
    """The URI path prefixes a statement (or the statements it combines) matches."""
    if "ByteMatchStatement" in statement:
        match = statement["ByteMatchStatement"]
        assert match["FieldToMatch"] == {"UriPath": {}}
        assert match["PositionalConstraint"] == "STARTS_WITH"
        return {match["SearchString"]}
    if "OrStatement" in statement:
        return set().union(*(_starts_with(s) for s in statement["OrStatement"]["Statements"]))
    raise AssertionError(f"not a path match: {statement}")


def test_a_waf_web_acl_guards_the_load_balancer(prod: Template, small: Template) -> None:
    """A rate-based rule per client address (tighter on sign-in, the signed webhooks outside
    it) and AWS's managed common rule set, associated with the ALB."""
    ((acl_id, acl),) = _resources(prod, "AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in props["Rules"]}
    rate = rules["requests-per-ip"]["Statement"]["RateBasedStatement"]
    assert (
        rate["AggregateKeyType"] == "IP" and rate["Limit"] == STAGES["prod"].waf_requests_per_5_min
    )
    assert "/webhooks/" in json.dumps(rate["ScopeDownStatement"]["NotStatement"])
    assert rules["sign-in-per-ip"]["Action"] == {"Block": {}}
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert (common["VendorName"], common["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    (association,) = _resources(prod, "AWS::WAFv2::WebACLAssociation").values()
    (alb_id,) = _resources(prod, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert association["Properties"]["ResourceArn"] == {"Ref": alb_id}
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    # The small profile has no public entry at all: nothing to guard.
    small.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 0)
    assert not [r for r in _ingress(small) if r[2] == "0.0.0.0/0"]


def test_the_waf_lets_a_busy_landing_page_play_and_bounds_its_event_posts(
    prod: Template,
) -> None:
    """The public player (`/watch/{cut}`, `/watch/s/{link}`, the cut's files and the scripts
    they load) has a per-address limit of its own, well above the general one, and does not
    count against it; `/api/events` has its own limit, above the service's 120 a minute, and
    a body over the service's bound is blocked before it reaches the service."""
    from vsl_pipelines.web.limits import EVENT_BODY_LIMIT, BodyLimits

    (acl,) = _resources(prod, "AWS::WAFv2::WebACL").values()
    ordered = sorted(acl["Properties"]["Rules"], key=lambda r: r["Priority"])
    assert len({r["Priority"] for r in ordered}) == len(ordered)
    rules = {r["Name"]: r for r in ordered}
    sizes = STAGES["prod"]

    def rate(name: str) -> dict[str, Any]:
        assert rules[name]["Action"] == {"Block": {}}, name
        statement: dict[str, Any] = rules[name]["Statement"]["RateBasedStatement"]
        assert statement["AggregateKeyType"] == "IP" and statement["EvaluationWindowSec"] == 300
        return statement

    watch = rate("watch-per-ip")
    player = _starts_with(watch["ScopeDownStatement"])
    assert player == {"/watch/", "/studio/static/"}
    assert watch["Limit"] == sizes.waf_watch_requests_per_5_min
    # ~40 requests a viewer (page, playlists, 4 s segments, captions): hundreds of viewers
    # behind one address, far above what the general limit would let through.
    assert watch["Limit"] >= 10 * sizes.waf_requests_per_5_min

    general = rate("requests-per-ip")["ScopeDownStatement"]["NotStatement"]["Statement"]
    assert _starts_with(general) == {"/webhooks/", "/api/events", *player}

    events = rate("events-per-ip")
    assert _starts_with(events["ScopeDownStatement"]) == {"/api/events"}
    assert events["Limit"] == sizes.waf_events_per_5_min
    service_per_5_min = 5 * Settings.model_fields["events_per_minute"].default
    assert service_per_5_min < events["Limit"] <= 10 * service_per_5_min

    body = rules["event-body-size"]
    assert body["Action"] == {"Block": {}}
    path, size = body["Statement"]["AndStatement"]["Statements"]
    assert _starts_with(path) == {"/api/events"}
    constraint = size["SizeConstraintStatement"]
    assert constraint["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert (constraint["ComparisonOperator"], constraint["Size"]) == ("GT", EVENT_BODY_LIMIT)
    assert BodyLimits().for_path("/api/events") == EVENT_BODY_LIMIT  # the service's own bound
    # Both event rules come before the general ones and the managed rule set.
    priority = {r["Name"]: r["Priority"] for r in ordered}
    assert (
        priority["event-body-size"]
        < priority["requests-per-ip"]
        < priority["AWSManagedRulesCommonRuleSet"]
    )
