"""The VPC and the security groups: the whole traffic matrix of the stack in one place.

Public subnets hold the ALB and the NAT gateways; everything else (tasks, RDS, Redis) sits in the
private subnets and is reached only through the groups below.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from deploy.aws.stages import DeployContext, StageSettings

WEBHOOK_PORT = 8080
WEBSERVER_PORT = 3000
CODE_SERVER_PORT = 4000
POSTGRES_PORT = 5432
REDIS_PORT = 6379


class Network(Construct):
    """VPC (2 AZs, public + private subnets) and one security group per role."""

    def __init__(
        self, scope: Construct, id: str, *, stage: StageSettings, context: DeployContext
    ) -> None:
        super().__init__(scope, id)
        # With NAT gateways the tasks sit in private subnets; without (the small profile) they
        # sit in the public subnets with a public address and no inbound rule but the ones
        # below, and the database in isolated subnets: no NAT hour or NAT byte to pay.
        self.has_nat = stage.nat_gateways > 0
        task_tier = (
            ec2.SubnetConfiguration(
                name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
            )
            if self.has_nat
            else ec2.SubnetConfiguration(
                name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
            )
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(stage.vpc_cidr),
            max_azs=2,
            nat_gateways=stage.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                task_tier,
            ],
            # Restricting the default group needs a Lambda-backed custom resource (and so a CDK
            # asset); nothing here uses the default group, so it stays as EC2 creates it.
            restrict_default_security_group=False,
        )
        # S3 (media, ECR's image layers) and DynamoDB through free gateway endpoints, not NAT.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        self.task_subnets = ec2.SubnetSelection(subnet_group_name=task_tier.name)
        if not self.has_nat:
            self.task_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        self.assign_public_ip = not self.has_nat
        self.data_subnets = ec2.SubnetSelection(subnet_group_name=task_tier.name)
        # Secret rotation functions reach Secrets Manager's API: through the NAT.
        self.rotation_subnets = ec2.SubnetSelection(subnet_group_name=task_tier.name)
        # Kept for callers that name the tasks' subnets as before.
        self.private_subnets = self.task_subnets

        def group(name: str, description: str, *, outbound: bool = True) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(
                self,
                name,
                vpc=self.vpc,
                description=description,
                allow_all_outbound=outbound,
            )

        self.alb: ec2.SecurityGroup | None = None
        if stage.public_entry == "alb":
            self.alb = group(
                "AlbSecurityGroup", "Public ALB: webhook service and Dagster UI", outbound=False
            )
        self.webhook = group("WebhookSecurityGroup", "vsl serve tasks")
        self.webserver = group("WebserverSecurityGroup", "dagster-webserver tasks")
        self.daemon = group("DaemonSecurityGroup", "dagster-daemon task")
        self.code_server = group("CodeServerSecurityGroup", "Dagster code server tasks")
        self.runs = group("RunSecurityGroup", "Dagster run tasks (EcsRunLauncher)")
        self.database = group("DatabaseSecurityGroup", "RDS PostgreSQL", outbound=False)
        self.redis = group("RedisSecurityGroup", "ElastiCache Redis", outbound=False)
        self.setup = group("SetupSecurityGroup", "The one-off set-up task (database users)")

        if self.alb is not None:
            for port in [443, 80] if context.certificate_arn else [80]:
                self.alb.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), "public web")
            # The Dagster UI only behind the ALB's sign-in (HTTPS), from the admin network.
            if context.admin_cidr is not None and context.https_host:
                self.alb.add_ingress_rule(
                    ec2.Peer.ipv4(str(context.admin_cidr)),
                    ec2.Port.tcp(WEBSERVER_PORT),
                    "Dagster UI, admin network only",
                )
            self.webhook.connections.allow_from(self.alb, ec2.Port.tcp(WEBHOOK_PORT), "ALB")
            self.webserver.connections.allow_from(self.alb, ec2.Port.tcp(WEBSERVER_PORT), "ALB")
        for client in (self.webserver, self.daemon):
            self.code_server.connections.allow_from(
                client, ec2.Port.tcp(CODE_SERVER_PORT), "Dagster gRPC"
            )
        # Dagster's storage and the app database live on the same RDS instance; each role's
        # user reaches its own database only (create_app_database.py). Runs have their own
        # group: they reach the database and Redis, never the code server.
        clients = (self.webhook, self.webserver, self.daemon, self.code_server, self.runs)
        for client in (*clients, self.setup):
            self.database.connections.allow_from(client, ec2.Port.tcp(POSTGRES_PORT), "PostgreSQL")
        # Redis serves the app code only: the service, sensors (code server) and runs.
        for client in (self.webhook, self.code_server, self.runs):
            self.redis.connections.allow_from(client, ec2.Port.tcp(REDIS_PORT), "Redis")
