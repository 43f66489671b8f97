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
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=stage.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
            # Restricting the default group needs a Lambda-backed custom resource (and so a CDK
            # asset); nothing here uses the default group, so it stays as EC2 creates it.
            restrict_default_security_group=False,
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

        def group(name: str, description: str, *, outbound: bool = True) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(
                self,
                name,
                vpc=self.vpc,
                description=description,
                allow_all_outbound=outbound,
            )

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

        public_ports = [443, 80] if context.certificate_arn else [80]
        for port in public_ports:
            self.alb.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), "public web")
        if context.admin_cidr is not None:
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
        # Dagster's instance storage and the app database live on the same RDS instance.
        for client in (self.webhook, self.webserver, self.daemon, self.code_server, self.runs):
            self.database.connections.allow_from(client, ec2.Port.tcp(POSTGRES_PORT), "PostgreSQL")
        # Redis serves the app code only: the service, sensors (code server) and runs.
        for client in (self.webhook, self.code_server, self.runs):
            self.redis.connections.allow_from(client, ec2.Port.tcp(REDIS_PORT), "Redis")
