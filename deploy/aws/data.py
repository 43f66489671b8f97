"""Where the flow keeps its state: RDS PostgreSQL (Dagster's instance and the app database),
ElastiCache Redis, the media bucket, the two DynamoDB tables, and the secrets tasks receive.

Key names, TTL attributes and media prefixes match the code that reads them
(`vsl_pipelines/inbox/dynamodb.py`, `cache/dynamodb_jobs.py`, `storage/base.py`,
`generation/adhoc.py`); the tests check them against those modules.
"""

from __future__ import annotations

import string

from aws_cdk import Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from deploy.aws.network import POSTGRES_PORT, REDIS_PORT, Network
from deploy.aws.stages import StageSettings
from vsl_pipelines.storage.base import MEDIA_TAG

DB_USER = "vsl"
DAGSTER_DATABASE = "dagster"
APP_DATABASE = "vsl_app"

INBOX_PARTITION_KEY = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
INBOX_SORT_KEY = dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.NUMBER)
INBOX_TTL_ATTRIBUTE = "expires_at"
JOBS_PARTITION_KEY = dynamodb.Attribute(name="jobId", type=dynamodb.AttributeType.STRING)
JOBS_TTL_ATTRIBUTE = "expiresAt"

# `storage.base.media_key`: scripts/{script}/{section}/{stage}-v{take}.{ext}, the compiled video
# under scripts/{script}/final/; `generation.adhoc`: adhoc/{day}/{jobId}.{ext}.
SCRIPT_MEDIA_PREFIX = "scripts/"
ADHOC_MEDIA_PREFIX = "adhoc/"

# The master password goes into connection URLs unquoted, so it keeps to characters that need no
# percent-encoding there.
_URL_UNSAFE = "".join(c for c in string.punctuation if c not in "-._~") + " "


class DataStores(Construct):
    """RDS, Redis, S3, DynamoDB and Secrets Manager for one stage."""

    def __init__(
        self, scope: Construct, id: str, *, stage: StageSettings, network: Network
    ) -> None:
        super().__init__(scope, id)
        self.stage = stage
        removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY
        self._database(stage, network, removal)
        self._redis(stage, network)
        self._bucket(stage, removal)
        self.inbox_table = self._ttl_table(
            "WebhookInbox", INBOX_PARTITION_KEY, INBOX_SORT_KEY, INBOX_TTL_ATTRIBUTE, removal
        )
        self.jobs_table = self._ttl_table(
            "JobsTable", JOBS_PARTITION_KEY, None, JOBS_TTL_ATTRIBUTE, removal
        )
        self._app_secrets(removal)

    def _database(self, stage: StageSettings, network: Network, removal: RemovalPolicy) -> None:
        self.database = rds.DatabaseInstance(
            self,
            "Postgres",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16_9),
            instance_type=ec2.InstanceType(stage.db_instance_class),
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[network.database],
            port=POSTGRES_PORT,
            credentials=rds.Credentials.from_generated_secret(
                DB_USER, exclude_characters=_URL_UNSAFE
            ),
            database_name=DAGSTER_DATABASE,
            storage_encrypted=True,
            allocated_storage=stage.db_allocated_gib,
            max_allocated_storage=stage.db_max_allocated_gib,
            storage_type=rds.StorageType.GP3,
            multi_az=stage.db_multi_az,
            backup_retention=Duration.days(stage.db_backup_days),
            deletion_protection=stage.retain_data,
            removal_policy=RemovalPolicy.SNAPSHOT if stage.retain_data else RemovalPolicy.DESTROY,
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
        )
        master = self.database.secret
        assert master is not None  # from_generated_secret always makes one
        # A retained snapshot needs its password. `secret` is the attachment; the generated
        # secret itself is the instance's child "Secret".
        generated = self.database.node.find_child("Secret")
        assert isinstance(generated, secretsmanager.Secret)
        generated.apply_removal_policy(removal)
        self.master_secret = master
        # Dagster and the app each read one URL; CloudFormation resolves the password reference
        # into the new secret at deploy time, so the template never holds it. Rotating the master
        # password would leave these URLs stale: rotation is not enabled.
        host = self.database.db_instance_endpoint_address
        password = master.secret_value_from_json("password").unsafe_unwrap()

        def url_secret(name: str, database: str) -> secretsmanager.Secret:
            url = Fn.join(
                "",
                [f"postgresql://{DB_USER}:", password, "@", host, f":{POSTGRES_PORT}/{database}"],
            )
            return secretsmanager.Secret(
                self,
                name,
                description=f"PostgreSQL URL of the {database} database",
                secret_string_value=SecretValue.unsafe_plain_text(url),
                removal_policy=removal,
            )

        self.dagster_pg_url = url_secret("DagsterPgUrl", DAGSTER_DATABASE)
        self.app_database_url = url_secret("AppDatabaseUrl", APP_DATABASE)

    def _redis(self, stage: StageSettings, network: Network) -> None:
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Private subnets of the Redis replication group",
            subnet_ids=network.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
            ).subnet_ids,
        )
        replicated = stage.redis_nodes > 1
        self.redis = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description="Rate limiter, API key cache, job status documents",
            engine="redis",
            engine_version="7.1",
            cache_node_type=stage.redis_node_type,
            num_cache_clusters=stage.redis_nodes,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[network.redis.security_group_id],
            port=REDIS_PORT,
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
        )
        # Transit encryption: clients speak TLS, hence rediss://.
        self.redis_url = Fn.join(
            "",
            [
                "rediss://",
                self.redis.attr_primary_end_point_address,
                ":",
                self.redis.attr_primary_end_point_port,
                "/0",
            ],
        )

    def _bucket(self, stage: StageSettings, removal: RemovalPolicy) -> None:
        def tiering(prefix: str, expire_days: int | None) -> s3.LifecycleRule:
            return s3.LifecycleRule(
                id=f"{prefix.rstrip('/')}-media",
                prefix=prefix,
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                        transition_after=Duration.days(stage.media_transition_days),
                    )
                ],
                expiration=Duration.days(expire_days) if expire_days else None,
            )

        def expire_kind(kind: str, days: int | None) -> list[s3.LifecycleRule]:
            if days is None:
                return []
            return [
                s3.LifecycleRule(
                    id=f"{kind}-expiration",
                    prefix=SCRIPT_MEDIA_PREFIX,
                    tag_filters={MEDIA_TAG: kind},
                    expiration=Duration.days(days),
                )
            ]

        rules = [
            # Takes, previews and compiled videos share `scripts/{id}/`, so the prefix only
            # moves to a cheaper class; each kind expires by the tag the store puts on every
            # object (`storage.base.media_kind`), compiled videos (`final`) never.
            tiering(SCRIPT_MEDIA_PREFIX, None),
            *expire_kind("preview", stage.preview_expiration_days),
            *expire_kind("take", stage.take_expiration_days),
            tiering(ADHOC_MEDIA_PREFIX, stage.adhoc_expiration_days),
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(7),
            ),
        ]
        if stage.retain_data:
            rules.append(
                s3.LifecycleRule(
                    id="old-versions",
                    noncurrent_version_expiration=Duration.days(30),
                )
            )
        self.bucket = s3.Bucket(
            self,
            "Media",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=stage.retain_data,
            lifecycle_rules=rules,
            removal_policy=removal,
        )

    def _ttl_table(
        self,
        name: str,
        partition_key: dynamodb.Attribute,
        sort_key: dynamodb.Attribute | None,
        ttl_attribute: str,
        removal: RemovalPolicy,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            name,
            partition_key=partition_key,
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=ttl_attribute,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=self.stage.retain_data
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal,
        )

    def _app_secrets(self, removal: RemovalPolicy) -> None:
        def placeholder(name: str, description: str) -> secretsmanager.Secret:
            return secretsmanager.Secret(
                self,
                name,
                description=description,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    exclude_punctuation=True, password_length=48
                ),
                removal_policy=removal,
            )

        self.replicate_api_token = placeholder(
            "ReplicateApiToken",
            "REPLICATE_API_TOKEN: put the Replicate API token here after the first deploy",
        )
        self.replicate_webhook_secret = placeholder(
            "ReplicateWebhookSecret",
            "REPLICATE_WEBHOOK_SECRET: put Replicate's webhook signing secret (whsec_...) here",
        )
        self.api_key = placeholder("ApiKey", "VSL_API_KEY: the key integrators send to /api")
