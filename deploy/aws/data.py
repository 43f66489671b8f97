"""Where the flow keeps its state: RDS PostgreSQL (Dagster's instance and the app database),
ElastiCache Redis, the media bucket, the two DynamoDB tables, and the secrets tasks receive.

Key names, TTL attributes and media prefixes match the code that reads them
(`vsl_pipelines/inbox/dynamodb.py`, `cache/dynamodb_jobs.py`, `storage/base.py`,
`generation/adhoc.py`); the tests check them against those modules.
"""

from __future__ import annotations

import string
from typing import Any

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from deploy.aws.network import POSTGRES_PORT, REDIS_PORT, Network
from deploy.aws.stages import StageSettings
from vsl_pipelines.storage.base import MEDIA_TAG

MASTER_USER = "vsl"
DAGSTER_DATABASE = "dagster"
APP_DATABASE = "vsl_app"
# One user (and role) per database; the rotation adds `<role>_clone` beside each.
APP_ROLE = "vsl_app"
DAGSTER_ROLE = "vsl_dagster"
# The RDS CA bundle in the image (Dockerfile), which sslmode=verify-full checks the server by.
RDS_CA_BUNDLE = "/opt/dagster/app/certs/rds-global-bundle.pem"

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
def db_identifier(stage: str) -> str:
    """The primary database's instance name: its cross-region replica names it by ARN."""
    return f"vsl-{stage}"


def replica_bucket_name(stage: str) -> str:
    """The standby region's media bucket (globally unique by the account's id)."""
    return f"vsl-{stage}-media-standby-{Aws.ACCOUNT_ID}"


_URL_UNSAFE = "".join(c for c in string.punctuation if c not in "-._~") + " "


class DataStores(Construct):
    """RDS, Redis, S3, DynamoDB and Secrets Manager for one stage."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        network: Network,
        dr_region: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.stage = stage
        # A second region (region.py): the tables become global tables with a replica there,
        # the media bucket replicates to the standby's bucket, the database has a known name
        # for its cross-region read replica.
        self.dr_region = dr_region
        removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY
        self._database(stage, network, removal)
        self._redis(stage, network, removal)
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
            vpc_subnets=network.data_subnets,
            security_groups=[network.database],
            port=POSTGRES_PORT,
            credentials=rds.Credentials.from_generated_secret(
                MASTER_USER, exclude_characters=_URL_UNSAFE
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
            instance_identifier=db_identifier(stage.name) if self.dr_region else None,
            # Clients check the server's certificate (sslmode=verify-full) against the RDS CA
            # bundle in the image; plain connections are refused.
            parameter_group=rds.ParameterGroup(
                self,
                "PostgresParameters",
                engine=rds.DatabaseInstanceEngine.postgres(
                    version=rds.PostgresEngineVersion.VER_16_9
                ),
                parameters={"rds.force_ssl": "1"},
            ),
        )
        master = self.database.secret
        assert master is not None  # from_generated_secret always makes one
        # A retained snapshot needs its password. `secret` is the attachment; the generated
        # secret itself is the instance's child "Secret".
        generated = self.database.node.find_child("Secret")
        assert isinstance(generated, secretsmanager.Secret)
        generated.apply_removal_policy(removal)
        self.master_secret = master
        # The master is the set-up task's alone (create_app_database.py): it makes one user per
        # database. Every user's secret rotates; the users' with alternating users (a clone
        # takes over while the previous password stays valid until the next rotation), so a
        # task started before a rotation keeps connecting.
        self.app_user = self._user_secret("AppUser", APP_ROLE, APP_DATABASE, removal)
        self.dagster_user = self._user_secret(
            "DagsterUser", DAGSTER_ROLE, DAGSTER_DATABASE, removal
        )
        self.rotations: list[secretsmanager.HostedRotation] = []
        if stage.rotate_db_credentials:
            self._rotate(
                master,
                secretsmanager.HostedRotation.postgre_sql_single_user,
                "MasterRotation",
                network,
                stage,
            )
            for user in (self.app_user, self.dagster_user):
                self._rotate(
                    user,
                    lambda **kw: secretsmanager.HostedRotation.postgre_sql_multi_user(
                        master_secret=master, **kw
                    ),
                    "Rotation",
                    network,
                    stage,
                )

    def _user_secret(
        self, id: str, role: str, database: str, removal: RemovalPolicy
    ) -> secretsmanager.ISecret:
        assert self.database.secret is not None
        secret = rds.DatabaseSecret(
            self,
            f"{id}Secret",
            username=role,
            dbname=database,
            master_secret=self.database.secret,
            exclude_characters=_URL_UNSAFE,
        )
        secret.apply_removal_policy(removal)
        return secret.attach(self.database)

    def _rotate(
        self,
        secret: secretsmanager.ISecret,
        rotation: Any,
        id: str,
        network: Network,
        stage: StageSettings,
    ) -> None:
        """The hosted rotation function in the private subnets, allowed into the database."""
        hosted = rotation(
            vpc=network.vpc,
            vpc_subnets=network.rotation_subnets,
        )
        secret.add_rotation_schedule(
            id,
            hosted_rotation=hosted,
            automatically_after=Duration.days(stage.db_rotation_days),
        )
        self.database.connections.allow_from(hosted, ec2.Port.tcp(POSTGRES_PORT), "rotation")
        self.rotations.append(hosted)

    @property
    def database_environment(self) -> dict[str, str]:
        """Where both databases are and how to reach them; the users come as secret fields."""
        host = self.database.db_instance_endpoint_address
        port = self.database.db_instance_endpoint_port
        common = {"SSLMODE": "verify-full", "SSLROOTCERT": RDS_CA_BUNDLE}
        env: dict[str, str] = {}
        for prefix, database, role in (
            ("DATABASE", APP_DATABASE, APP_ROLE),
            ("DAGSTER_PG", DAGSTER_DATABASE, DAGSTER_ROLE),
        ):
            fields = {"HOST": host, "PORT": port, "NAME": database, "ROLE": role, **common}
            env.update({f"{prefix}_{key}": value for key, value in fields.items()})
        return env

    def _redis(self, stage: StageSettings, network: Network, removal: RemovalPolicy) -> None:
        self.redis: elasticache.CfnReplicationGroup | None = None
        self.redis_url: str | None = None
        self.redis_auth: secretsmanager.Secret | None = None
        if stage.redis_nodes == 0:
            return  # the app's limiter, key cache and status layer are then in-process
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Private subnets of the Redis replication group",
            subnet_ids=network.vpc.select_subnets(
                subnet_group_name=network.data_subnets.subnet_group_name
            ).subnet_ids,
        )
        # AUTH: every client sends this token (REDIS_PASSWORD, put into REDIS_URL at start).
        self.redis_auth = secretsmanager.Secret(
            self,
            "RedisAuthToken",
            description="REDIS_PASSWORD: the AUTH token of the Redis replication group",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
            removal_policy=removal,
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
            auth_token=self.redis_auth.secret_value.unsafe_unwrap(),
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
            # Replication needs versions on both sides.
            versioned=stage.retain_data or self.dr_region is not None,
            lifecycle_rules=rules,
            removal_policy=removal,
        )
        if self.dr_region:
            self._replicate_media(stage)

    def _replicate_media(self, stage: StageSettings) -> None:
        """Every new object (and its tags, which the lifecycle rules read) to the standby's
        bucket (region.py names it); deletions are not replicated."""
        destination = f"arn:{Aws.PARTITION}:s3:::{replica_bucket_name(stage.name)}"
        role = iam.Role(
            self,
            "MediaReplicationRole",
            assumed_by=iam.ServicePrincipal("s3.amazonaws.com"),
            description="S3 replication of the media bucket to the standby region",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetReplicationConfiguration", "s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                ],
                resources=[self.bucket.arn_for_objects("*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ReplicateObject", "s3:ReplicateTags"],
                resources=[f"{destination}/*"],
            )
        )
        cfn = self.bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.replication_configuration = s3.CfnBucket.ReplicationConfigurationProperty(
            role=role.role_arn,
            rules=[
                s3.CfnBucket.ReplicationRuleProperty(
                    id="media-to-standby",
                    status="Enabled",
                    priority=1,
                    filter=s3.CfnBucket.ReplicationRuleFilterProperty(prefix=""),
                    delete_marker_replication=s3.CfnBucket.DeleteMarkerReplicationProperty(
                        status="Disabled"
                    ),
                    destination=s3.CfnBucket.ReplicationDestinationProperty(
                        bucket=destination, storage_class="STANDARD_IA"
                    ),
                )
            ],
        )

    def _ttl_table(
        self,
        name: str,
        partition_key: dynamodb.Attribute,
        sort_key: dynamodb.Attribute | None,
        ttl_attribute: str,
        removal: RemovalPolicy,
    ) -> dynamodb.ITable:
        if self.dr_region:
            # A global table (AWS::DynamoDB::GlobalTable) with its replica in the standby
            # region: writes there are replicated back, so a failed-over service keeps both.
            return dynamodb.TableV2(
                self,
                f"{name}Global",
                partition_key=partition_key,
                sort_key=sort_key,
                billing=dynamodb.Billing.on_demand(),
                time_to_live_attribute=ttl_attribute,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=self.stage.retain_data
                ),
                encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
                replicas=[dynamodb.ReplicaTableProps(region=self.dr_region)],
                removal_policy=removal,
            )
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
