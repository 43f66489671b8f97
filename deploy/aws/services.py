"""The ECS cluster on Fargate: one image, four long-running services and the run task definition.

- webhook: `vsl serve`, behind the public ALB, 2+ tasks scaled on requests per target; the studio's
  OpenID client (identity.py) is its alone;
- webserver: the Dagster UI behind the ALB's admin-only listener, which signs people in with
  Cognito first where it serves HTTPS;
- daemon: exactly one task; its `EcsRunLauncher` starts each run as a Fargate task of the run
  task definition (same image, the run roles);
- code server: `dagster code-server start`, found at code.vsl.local:4000 (Cloud Map).
Every container gets the same environment (the Dagster instance file reads it in every process);
the webhook service gets on top which proxies it trusts and the studio's sign-in settings.
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import CfnParameter, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as elbv2_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from deploy.aws.data import DataStores
from deploy.aws.identity import UI_SESSION, SignIn
from deploy.aws.ingress import PublicEntry
from deploy.aws.network import CODE_SERVER_PORT, WEBHOOK_PORT, WEBSERVER_PORT, Network
from deploy.aws.permissions import (
    grant_app_data,
    run_launcher_statements,
    run_terminator_statements,
)
from deploy.aws.stages import DeployContext, StageSettings

DAGSTER_HOME = "/opt/dagster/ecs"
WORKSPACE_FILE = "/opt/dagster/app/deploy/dagster/workspace.yaml"
NAMESPACE = "vsl.local"
CODE_SERVER_NAME = "code"
CODE_SERVER_HOST = f"{CODE_SERVER_NAME}.{NAMESPACE}"
# The EcsRunLauncher overrides the command of the container it calls "run" (its default name).
RUN_CONTAINER = "run"

# Each role starts through `vsl role`, which checks its settings (the instance file's variables,
# the databases, Redis, the bucket) and stops the task with one line naming a wrong one.
WEBHOOK_COMMAND = f"vsl role service --port {WEBHOOK_PORT}".split()
WEBSERVER_COMMAND = ["vsl", "role", "webserver"]
# The daemon reads the workspace file (VSL_WORKSPACE): the code server over gRPC, never the
# code in-process.
DAEMON_COMMAND = ["vsl", "role", "daemon"]
CODE_SERVER_COMMAND = ["vsl", "role", "code-server"]

_LINUX_X86 = ecs.RuntimePlatform(
    cpu_architecture=ecs.CpuArchitecture.X86_64,
    operating_system_family=ecs.OperatingSystemFamily.LINUX,
)
_CREATE_APP_DATABASE = (Path(__file__).parent / "create_app_database.py").read_text()

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<name>[a-z0-9._/-]+)(:(?P<tag>[\w.-]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def container_image(scope: Construct, context: DeployContext) -> ecs.ContainerImage:
    """The one image of every container: `-c image=...`, else this account's ECR repository
    `repository` at the tag of the ImageTag parameter. ECR images grant pull to whoever runs them."""
    if context.image is None:
        tag = CfnParameter(
            scope,
            "ImageTag",
            type="String",
            default="latest",
            description=f"Tag of the image in the ECR repository {context.repository}",
        )
        repository = ecr.Repository.from_repository_name(
            scope, "ImageRepository", context.repository
        )
        return ecs.ContainerImage.from_ecr_repository(repository, tag.value_as_string)
    match = _ECR_IMAGE.match(context.image)
    if match is None:
        return ecs.ContainerImage.from_registry(context.image)
    repository = ecr.Repository.from_repository_attributes(
        scope,
        "ImageRepository",
        repository_name=match["name"],
        repository_arn=Stack.of(scope).format_arn(
            service="ecr",
            region=match["region"],
            account=match["account"],
            resource="repository",
            resource_name=match["name"],
        ),
    )
    return ecs.ContainerImage.from_ecr_repository(
        repository, match["digest"] or match["tag"] or "latest"
    )


class Services(Construct):
    """Cluster, roles, log groups, task definitions and services of one stage."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        context: DeployContext,
        network: Network,
        data: DataStores,
        entry: PublicEntry,
        sign_in: SignIn,
    ) -> None:
        super().__init__(scope, id)
        self.stage = stage
        self.network = network
        self.image = container_image(self, context)
        self.removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if stage.retain_data
                else ecs.ContainerInsights.DISABLED
            ),
        )
        namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=NAMESPACE, vpc=network.vpc
        )
        self.log_groups = {
            role: logs.LogGroup(
                self,
                f"{role.title().replace('-', '')}Logs",
                retention=stage.log_retention,
                removal_policy=self.removal,
            )
            for role in ("webhook", "webserver", "daemon", "code-server", "runs")
        }

        def ecs_role(name: str, description: str) -> iam.Role:
            return iam.Role(
                self,
                name,
                assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                description=description,
            )

        execution_role = ecs_role("ServiceExecutionRole", "Pulls the image, reads secrets, logs")
        self.run_execution_role = ecs_role("RunExecutionRole", "Execution role of run tasks")
        self.run_task_role = ecs_role("RunTaskRole", "Dagster runs: media bucket, tables")
        webhook_role = ecs_role("WebhookTaskRole", "vsl serve: media bucket, tables")
        code_role = ecs_role("CodeServerTaskRole", "Sensors in the code server: bucket, tables")
        self.daemon_role = ecs_role("DaemonTaskRole", "dagster-daemon: the EcsRunLauncher")
        self.webserver_role = ecs_role("WebserverTaskRole", "dagster-webserver: terminate runs")
        for role in (self.run_task_role, webhook_role, code_role):
            grant_app_data(role, data)

        run_family = f"vsl-{stage.name}-run"
        private_subnets = network.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnet_ids
        self.environment = {
            "DAGSTER_HOME": DAGSTER_HOME,
            "DAGSTER_CODE_SERVER_HOST": CODE_SERVER_HOST,
            "DAGSTER_CODE_SERVER_PORT": str(CODE_SERVER_PORT),
            "DAGSTER_WEBSERVER_PORT": str(WEBSERVER_PORT),
            "VSL_WORKSPACE": WORKSPACE_FILE,
            "DAGSTER_ECS_CLUSTER": self.cluster.cluster_name,
            "DAGSTER_RUN_TASK_DEFINITION": run_family,
            "DAGSTER_RUN_CONTAINER_NAME": RUN_CONTAINER,
            "DAGSTER_RUN_TASK_ROLE_ARN": self.run_task_role.role_arn,
            "DAGSTER_RUN_EXECUTION_ROLE_ARN": self.run_execution_role.role_arn,
            "DAGSTER_RUN_SUBNETS": Fn.join(",", private_subnets),
            "DAGSTER_RUN_SECURITY_GROUP": network.runs.security_group_id,
            "DAGSTER_RUN_LOG_GROUP": self.log_groups["runs"].log_group_name,
            "REDIS_URL": data.redis_url,
            "VSL_S3_BUCKET": data.bucket.bucket_name,
            "VSL_DYNAMODB_TABLE": data.inbox_table.table_name,
            "VSL_DYNAMODB_JOBS_TABLE": data.jobs_table.table_name,
            "AWS_REGION": Stack.of(self).region,
            "VSL_SERVICE_HOST": "0.0.0.0",
            "VSL_WEBHOOK_URL": f"{entry.base_url}/webhooks/replicate",
            "VSL_MEDIA_URL": f"{entry.base_url}/media",
            "VSL_ALLOWED_HOSTS": entry.allowed_hosts,
            "VSL_LOG_LEVEL": context.log_level,
        }
        self.secrets = {
            "DAGSTER_PG_URL": ecs.Secret.from_secrets_manager(data.dagster_pg_url),
            "DATABASE_URL": ecs.Secret.from_secrets_manager(data.app_database_url),
            "REPLICATE_API_TOKEN": ecs.Secret.from_secrets_manager(data.replicate_api_token),
            "REPLICATE_WEBHOOK_SECRET": ecs.Secret.from_secrets_manager(
                data.replicate_webhook_secret
            ),
            "VSL_API_KEY": ecs.Secret.from_secrets_manager(data.api_key),
        }
        self._run_task_definition(run_family)

        for statement in run_launcher_statements(
            self.cluster, self.run_task_role, self.run_execution_role, self.log_groups["runs"]
        ):
            self.daemon_role.add_to_policy(statement)
        for statement in run_terminator_statements(self.cluster):
            self.webserver_role.add_to_policy(statement)

        code = self._service(
            "CodeServer",
            "code-server",
            CODE_SERVER_COMMAND,
            task_role=code_role,
            execution_role=execution_role,
            port=CODE_SERVER_PORT,
            desired_count=stage.code_server_tasks,
            security_groups=[network.code_server],
            health_check=ecs.HealthCheck(
                command=["CMD", "dagster", "api", "grpc-health-check", "-p", str(CODE_SERVER_PORT)],
                start_period=Duration.seconds(60),
            ),
            cloud_map_options=ecs.CloudMapOptions(
                name=CODE_SERVER_NAME,
                cloud_map_namespace=namespace,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(10),
            ),
        )
        self.webserver = self._service(
            "Webserver",
            "webserver",
            WEBSERVER_COMMAND,
            task_role=self.webserver_role,
            execution_role=execution_role,
            port=WEBSERVER_PORT,
            desired_count=stage.webserver_tasks,
            security_groups=[network.webserver],
            behind_alb=True,
        )
        # Two daemons would evaluate every sensor and schedule twice: the old task stops before
        # the new one starts (min 0 %, max 100 %).
        self.daemon = self._service(
            "Daemon",
            "daemon",
            DAEMON_COMMAND,
            task_role=self.daemon_role,
            execution_role=execution_role,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            # Runs inherit the daemon's groups (use_current_ecs_task_config): the run group
            # gives them the database and Redis.
            security_groups=[network.daemon, network.runs],
        )
        self.webhook = self._service(
            "Webhook",
            "webhook",
            WEBHOOK_COMMAND,
            task_role=webhook_role,
            execution_role=execution_role,
            port=WEBHOOK_PORT,
            desired_count=stage.webhook_min_tasks,
            security_groups=[network.webhook],
            behind_alb=True,
            creates_app_database=True,
            # uvicorn believes X-Forwarded-For/-Proto from the ALB's subnets only: the studio
            # then builds its https:// sign-in callback and Secure cookies, and sees the real
            # client address (the ALB appends it; what a client sent before it stays untrusted).
            # The studio's OpenID client: its issuer and id in the open, its secret as a secret.
            environment={
                **self.environment,
                "FORWARDED_ALLOW_IPS": ",".join(
                    subnet.ipv4_cidr_block for subnet in network.vpc.public_subnets
                ),
                **sign_in.service_environment,
            },
            secrets={**self.secrets, **sign_in.service_secrets},
        )
        for dependent in (self.webserver, self.daemon):
            dependent.node.add_dependency(code)

        self._expose(entry, sign_in)

    def _run_task_definition(self, family: str) -> None:
        """What the EcsRunLauncher starts for each run: no command (the launcher gives it)."""
        definition = ecs.FargateTaskDefinition(
            self,
            "RunTaskDefinition",
            family=family,
            cpu=self.stage.run_cpu,
            memory_limit_mib=self.stage.run_memory_mib,
            ephemeral_storage_gib=self.stage.run_ephemeral_gib,
            task_role=self.run_task_role,
            execution_role=self.run_execution_role,
            runtime_platform=_LINUX_X86,
        )
        definition.add_container(
            RUN_CONTAINER,
            image=self.image,
            environment=self.environment,
            secrets=self.secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="run", log_group=self.log_groups["runs"]),
        )

    def _service(
        self,
        name: str,
        role: str,
        command: list[str],
        *,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        desired_count: int,
        security_groups: list[ec2.ISecurityGroup],
        port: int | None = None,
        health_check: ecs.HealthCheck | None = None,
        cloud_map_options: ecs.CloudMapOptions | None = None,
        min_healthy_percent: int = 100,
        max_healthy_percent: int = 200,
        behind_alb: bool = False,
        creates_app_database: bool = False,
        environment: dict[str, str] | None = None,
        secrets: dict[str, ecs.Secret] | None = None,
    ) -> ecs.FargateService:
        definition = ecs.FargateTaskDefinition(
            self,
            f"{name}TaskDefinition",
            family=f"vsl-{self.stage.name}-{role}",
            cpu=self.stage.service_cpu,
            memory_limit_mib=self.stage.service_memory_mib,
            task_role=task_role,
            execution_role=execution_role,
            runtime_platform=_LINUX_X86,
        )
        logging = ecs.LogDrivers.aws_logs(stream_prefix=role, log_group=self.log_groups[role])
        container = definition.add_container(
            role,
            image=self.image,
            command=command,
            environment=environment or self.environment,
            secrets=secrets or self.secrets,
            logging=logging,
            health_check=health_check,
            port_mappings=[ecs.PortMapping(container_port=port)] if port else None,
        )
        if creates_app_database:
            # The RDS instance is created with the Dagster database only; the app's database is
            # created here, before `vsl serve` applies the migrations to it.
            setup = definition.add_container(
                "create-app-database",
                image=self.image,
                command=["python", "-c", _CREATE_APP_DATABASE],
                essential=False,
                secrets={k: self.secrets[k] for k in ("DAGSTER_PG_URL", "DATABASE_URL")},
                logging=logging,
            )
            container.add_container_dependencies(
                ecs.ContainerDependency(
                    container=setup, condition=ecs.ContainerDependencyCondition.SUCCESS
                )
            )
        return ecs.FargateService(
            self,
            f"{name}Service",
            cluster=self.cluster,
            task_definition=definition,
            desired_count=desired_count,
            min_healthy_percent=min_healthy_percent,
            max_healthy_percent=max_healthy_percent,
            security_groups=security_groups,
            vpc_subnets=self.network.private_subnets,
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            cloud_map_options=cloud_map_options,
            health_check_grace_period=Duration.seconds(120) if behind_alb else None,
        )

    def _expose(self, entry: PublicEntry, sign_in: SignIn) -> None:
        webhook_targets = entry.public_listener.add_targets(
            "Webhook",
            port=WEBHOOK_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[
                self.webhook.load_balancer_target(
                    container_name="webhook", container_port=WEBHOOK_PORT
                )
            ],
            health_check=elbv2.HealthCheck(path="/healthz", healthy_http_codes="200"),
            deregistration_delay=Duration.seconds(30),
        )
        # In the listener's scope under the id `add_targets` would give it: the same logical id
        # as before the sign-in, so no replacement of the group (or of the service using it).
        webserver_targets = elbv2.ApplicationTargetGroup(
            entry.ui_listener,
            "WebserverGroup",
            vpc=self.network.vpc,
            port=WEBSERVER_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[
                self.webserver.load_balancer_target(
                    container_name="webserver", container_port=WEBSERVER_PORT
                )
            ],
            health_check=elbv2.HealthCheck(path="/server_info", healthy_http_codes="200"),
            deregistration_delay=Duration.seconds(30),
        )
        forward = elbv2.ListenerAction.forward([webserver_targets])
        if sign_in.ui_client is None:
            # No HTTPS, no sign-in: admin_cidr alone guards the UI (identity.py warns).
            entry.ui_listener.add_action("Webserver", action=forward)
        else:
            # Cognito first: the ALB sends whoever has no session to the hosted sign-in page
            # and forwards only signed-in requests (with their claims in x-amzn-oidc-* headers).
            # It reaches Cognito's token endpoint over HTTPS: the action opens 443 outbound.
            entry.ui_listener.add_action(
                "Webserver",
                action=elbv2_actions.AuthenticateCognitoAction(
                    user_pool=sign_in.user_pool,
                    user_pool_client=sign_in.ui_client,
                    user_pool_domain=sign_in.domain,
                    scope="openid email",
                    session_cookie_name="vsl-dagster-ui",
                    session_timeout=UI_SESSION,
                    next=forward,
                ),
            )
        scaling = self.webhook.auto_scale_task_count(
            min_capacity=self.stage.webhook_min_tasks, max_capacity=self.stage.webhook_max_tasks
        )
        scaling.scale_on_request_count(
            "RequestsPerTarget",
            requests_per_target=self.stage.webhook_requests_per_target,
            target_group=webhook_targets,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
