"""The standby region (`-c dr_region=...`): what a failover needs there already running and
current, the rest deployed only on the day (docs/DEPLOYMENT.md, "Second region").

- the media bucket the primary's replicates into (every new object and its tags), whose final
  objects the primary's CloudFront distribution reads when the primary bucket fails
  (delivery.py's origin group);
- a cross-region read replica of the PostgreSQL instance (both databases), in isolated subnets
  of a VPC of its own, promoted to a standalone primary on failover;
- the inbox and jobs tables need nothing here: they are global tables whose replica the primary
  stack makes (data.py);
- with `hosted_zone_id`, `domain_name` and the standby's load balancer
  (`standby_alb_dns_name`, `standby_alb_zone_id`): the SECONDARY failover record, which Route 53
  answers while the primary's health check fails (the PRIMARY record is the primary stack's).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deploy.aws.data import db_identifier, replica_bucket_name
from deploy.aws.delivery import FINAL_OBJECTS
from deploy.aws.network import POSTGRES_PORT
from deploy.aws.stages import DeployContext, StageSettings

HEALTH_PATH = "/healthz"


class StandbyRegion(Stack):
    """Data replicas of one stage in its standby region."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        context: DeployContext,
        primary_region: str,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id,
            description=f"VSL Pipelines ({stage.name}): standby region, data replicas",
            **kwargs,  # type: ignore[arg-type]
        )
        removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY
        self.bucket = s3.Bucket(
            self,
            "MediaStandby",
            bucket_name=replica_bucket_name(stage.name),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(id="old-versions", noncurrent_version_expiration=Duration.days(30))
            ],
            removal_policy=removal,
        )
        # The distribution is the primary stack's, deployed after this one (its replication
        # needs this bucket first): its id is not known here, so any distribution of this
        # account may read, and only the final objects, which it serves publicly anyway.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudFrontReadsFinalMedia",
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(FINAL_OBJECTS)],
                conditions={
                    "StringLike": {
                        "AWS:SourceArn": (
                            f"arn:{Aws.PARTITION}:cloudfront::{Aws.ACCOUNT_ID}:distribution/*"
                        )
                    }
                },
            )
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.1.0.0/16"),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            restrict_default_security_group=False,
        )
        self.database_group = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=vpc,
            description="The standby PostgreSQL replica (clients added at failover)",
            allow_all_outbound=False,
        )
        subnets = rds.CfnDBSubnetGroup(
            self,
            "ReplicaSubnets",
            db_subnet_group_description="Isolated subnets of the standby replica",
            subnet_ids=vpc.select_subnets(subnet_group_name="data").subnet_ids,
        )
        source = (
            f"arn:{Aws.PARTITION}:rds:{primary_region}:{Aws.ACCOUNT_ID}"
            f":db:{db_identifier(stage.name)}"
        )
        self.replica = rds.CfnDBInstance(
            self,
            "PostgresReplica",
            source_db_instance_identifier=source,
            source_region=primary_region,
            db_instance_class=f"db.{stage.db_instance_class}",
            db_subnet_group_name=subnets.ref,
            vpc_security_groups=[self.database_group.security_group_id],
            # The primary is encrypted: the replica is, under this region's RDS key.
            kms_key_id="alias/aws/rds",
            publicly_accessible=False,
            port=str(POSTGRES_PORT),
            deletion_protection=stage.retain_data,
            auto_minor_version_upgrade=True,
        )
        self.replica.apply_removal_policy(
            RemovalPolicy.SNAPSHOT if stage.retain_data else RemovalPolicy.DESTROY
        )
        if (
            context.hosted_zone_id
            and context.domain_name
            and context.standby_alb_dns_name
            and context.standby_alb_zone_id
        ):
            route53.CfnRecordSet(
                self,
                "FailoverSecondary",
                hosted_zone_id=context.hosted_zone_id,
                name=context.domain_name,
                type="A",
                set_identifier=f"vsl-{stage.name}-standby",
                failover="SECONDARY",
                alias_target=route53.CfnRecordSet.AliasTargetProperty(
                    dns_name=context.standby_alb_dns_name,
                    hosted_zone_id=context.standby_alb_zone_id,
                    evaluate_target_health=True,
                ),
            )


def primary_failover_record(
    scope: Construct, context: DeployContext, stage: StageSettings, alb_dns: str, alb_zone: str
) -> None:
    """The PRIMARY failover record and the health check Route 53 decides by (HTTPS /healthz
    of the public name, from several of Route 53's regions)."""
    assert context.hosted_zone_id and context.domain_name
    check = route53.CfnHealthCheck(
        scope,
        "PrimaryHealthCheck",
        health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
            type="HTTPS",
            fully_qualified_domain_name=alb_dns,
            port=443,
            resource_path=HEALTH_PATH,
            request_interval=30,
            failure_threshold=3,
            enable_sni=True,
        ),
        health_check_tags=[
            route53.CfnHealthCheck.HealthCheckTagProperty(
                key="Name", value=f"vsl-{stage.name}-primary"
            )
        ],
    )
    route53.CfnRecordSet(
        scope,
        "FailoverPrimary",
        hosted_zone_id=context.hosted_zone_id,
        name=context.domain_name,
        type="A",
        set_identifier=f"vsl-{stage.name}-primary",
        failover="PRIMARY",
        health_check_id=check.attr_health_check_id,
        alias_target=route53.CfnRecordSet.AliasTargetProperty(
            dns_name=alb_dns, hosted_zone_id=alb_zone, evaluate_target_health=True
        ),
    )
