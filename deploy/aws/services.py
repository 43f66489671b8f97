"""The ECS cluster on Fargate: one image, four long-running services and the run task definition
(or, in the small profile, one task holding them all).

- webhook: `vsl serve`, behind the public ALB, 2+ tasks scaled on requests per target; the studio's
  OpenID client (identity.py) is its alone;
- webserver: the Dagster UI behind the ALB's admin-only listener, which signs people in with
  Cognito first (and only where it serves HTTPS); ECS Exec for the UI's port forward;
- daemon: exactly one task; its `EcsRunLauncher` starts each run as a Fargate task of the run
  task definition (by ARN), in the runs' own security group;
- code server: `dagster code-server start`, found at code.vsl.local:4000 (Cloud Map);
- setup: the one-off task that alone holds the database master user (create_app_database.py),
  run by the stack before the services start, and again when it changes.
Every container gets the same environment (the Dagster instance file reads it in every process)
and only the secrets its role uses; its entry point builds the connection URLs from them
(`vsl_pipelines.deployment.database_urls`). With `-c ssm_prefix=/vsl/` the containers that use the
Replicate token read it from SSM at start instead (`VSL_SSM_PREFIX`, and `ssm:GetParameters` under
the prefix for their task roles).
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import ArnFormat, CfnParameter, CustomResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as elbv2_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from deploy.aws.data import (
    APP_DATABASE,
    APP_ROLE,
    DAGSTER_DATABASE,
    DAGSTER_ROLE,
    DataStores,
)
from deploy.aws.identity import UI_SESSION, SignIn
from deploy.aws.ingress import ALB_IDLE_TIMEOUT_S, PublicEntry
from deploy.aws.network import CODE_SERVER_PORT, WEBHOOK_PORT, WEBSERVER_PORT, Network
from deploy.aws.permissions import (
    grant_compute_logs,
    grant_pipeline_data,
    grant_service_data,
    grant_ssm_parameters,
    run_launcher_statements,
    run_terminator_statements,
    task_definition_family_arn,
)
from deploy.aws.stages import DeployContext, StageSettings

DAGSTER_HOME = "/opt/dagster/ecs"
# The small profile's instance: runs are processes of the code server in the same task.
DAGSTER_HOME_ALL_IN_ONE = "/opt/dagster/ecs-small"
# Every container starts through this: the connection URLs from the secret fields, then CMD.
ENTRY_POINT = ["python", "-m", "vsl_pipelines.deployment.database_urls"]
# The daemon writes the runs' network into its instance file first (the launcher's
# run_task_kwargs read no environment variable).
RUN_NETWORK_SCRIPT = "/opt/dagster/app/deploy/dagster/ecs/run_network.py"
# Above the ALB's idle timeout: the balancer, not the service, closes idle connections.
SERVICE_KEEP_ALIVE_S = ALB_IDLE_TIMEOUT_S + 15
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
DAEMON_COMMAND = ["sh", "-c", f"python {RUN_NETWORK_SCRIPT} && exec vsl role daemon"]
CODE_SERVER_COMMAND = ["vsl", "role", "code-server"]

_ARCHITECTURES = {"x86_64": ecs.CpuArchitecture.X86_64, "arm64": ecs.CpuArchitecture.ARM64}
_CREATE_APP_DATABASE = (Path(__file__).parent / "create_app_database.py").read_text()
# The set-up's custom resource: runs the set-up task and waits for its container's exit code
# (inline code, so no CDK asset; cfnresponse is provided to inline Python functions).
_RUN_SETUP_TASK = (Path(__file__).parent / "run_setup_task.py").read_text()


def runtime(arch: str) -> ecs.RuntimePlatform:
    return ecs.RuntimePlatform(
        cpu_architecture=_ARCHITECTURES[arch],
        operating_system_family=ecs.OperatingSystemFamily.LINUX,
    )


_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<name>[a-z0-9._/-]+)(:(?P<tag>[\w.-]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def container_image(scope: Construct, context: DeployContext) -> ecs.ContainerImage:
    """The one image of every container: `-c image=...`, else this account's ECR repository
    `repository` at the tag of the ImageTag parameter (no default: tags are immutable, so each
    deploy names the build it runs). ECR images grant pull to whoever runs them; an image given
    with `@sha256:...` is pulled by that digest."""
    if context.image is None:
        tag = CfnParameter(
            scope,
            "ImageTag",
            type="String",
            allowed_pattern=r"^[\w][\w.-]{0,127}$",
            description=(
                f"Tag of the image in the ECR repository {context.repository} (tags are "
                "immutable there; -c image=...@sha256:DIGEST pins a digest instead)"
            ),
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
        entry: PublicEntry | None,
        sign_in: SignIn,
        media_cdn_url: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.stage = stage
        self.network = network
        self.data = data
        self.image = container_image(self, context)
        self.removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY
        self.webhook: ecs.FargateService | None = None
        self.webserver: ecs.FargateService | None = None
        self.code_server: ecs.FargateService | None = None
        self.all_in_one: ecs.FargateService | None = None
        self.webhook_targets: elbv2.ApplicationTargetGroup | None = None
        self.webserver_targets: elbv2.ApplicationTargetGroup | None = None

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if stage.retain_data
                else ecs.ContainerInsights.DISABLED
            ),
            enable_fargate_capacity_providers=stage.run_capacity == "FARGATE_SPOT",
            # ECS Exec sessions (the UI's port forward) are logged to the webserver's group.
            execute_command_configuration=ecs.ExecuteCommandConfiguration(
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(
                    cloud_watch_log_group=self._exec_logs(stage)
                ),
            ),
        )
        self.log_groups = self.log_groups | {
            role: logs.LogGroup(
                self,
                f"{role.title().replace('-', '')}Logs",
                retention=stage.log_retention,
                removal_policy=self.removal,
            )
            for role in ("webhook", "daemon", "code-server", "runs")
        }
        self.run_family = f"vsl-{stage.name}-run"
        self.environment = self._environment(context, entry)
        if media_cdn_url:
            # The final videos and delivery files are handed out at CloudFront (delivery.py).
            self.environment["VSL_MEDIA_CDN_URL"] = media_cdn_url
        self.ssm_prefix = context.ssm_prefix
        # The containers that use the Replicate token: with an SSM prefix they read it (and
        # whatever else the prefix holds that they lack) from SSM at start.
        self.token_environment = (
            {"VSL_SSM_PREFIX": context.ssm_prefix} if context.ssm_prefix else {}
        )
        self.secrets = self._secret_groups(sign_in)
        self.setup = self._setup_task()

        if stage.all_in_one:
            self._all_in_one()
        else:
            self._separate_services(sign_in, entry)
        for service in self.services.values():
            service.node.add_dependency(self.setup)

    def _exec_logs(self, stage: StageSettings) -> logs.LogGroup:
        self.log_groups = {
            "webserver": logs.LogGroup(
                self, "WebserverLogs", retention=stage.log_retention, removal_policy=self.removal
            )
        }
        return self.log_groups["webserver"]

    # -- what the containers receive ---------------------------------------------------------

    def _environment(self, context: DeployContext, entry: PublicEntry | None) -> dict[str, str]:
        stage, network, data = self.stage, self.network, self.data
        task_subnets = network.vpc.select_subnets(**_selection(network.task_subnets)).subnet_ids
        environment = {
            "DAGSTER_HOME": DAGSTER_HOME_ALL_IN_ONE if stage.all_in_one else DAGSTER_HOME,
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1" if stage.all_in_one else CODE_SERVER_HOST,
            "DAGSTER_CODE_SERVER_PORT": str(CODE_SERVER_PORT),
            "DAGSTER_WEBSERVER_PORT": str(WEBSERVER_PORT),
            "VSL_WORKSPACE": WORKSPACE_FILE,
            "DAGSTER_ECS_CLUSTER": self.cluster.cluster_name,
            "DAGSTER_RUN_SUBNETS": Fn.join(",", task_subnets),
            "DAGSTER_RUN_SECURITY_GROUP": network.runs.security_group_id,
            "DAGSTER_RUN_PUBLIC_IP": "ENABLED" if network.assign_public_ip else "DISABLED",
            "DAGSTER_RUN_CAPACITY": stage.run_capacity,
            "DAGSTER_RUN_LOG_GROUP": self.log_groups["runs"].log_group_name,
            **data.database_environment,
            "VSL_S3_BUCKET": data.bucket.bucket_name,
            "VSL_DYNAMODB_TABLE": data.inbox_table.table_name,
            "VSL_DYNAMODB_JOBS_TABLE": data.jobs_table.table_name,
            "AWS_REGION": Stack.of(self).region,
            "VSL_SERVICE_HOST": "0.0.0.0",
            "VSL_LOG_LEVEL": context.log_level,
        }
        if data.redis_url is not None:
            environment["REDIS_URL"] = data.redis_url
        if entry is not None:
            environment.update(
                {
                    "VSL_WEBHOOK_URL": f"{entry.base_url}/webhooks/replicate",
                    "VSL_MEDIA_URL": f"{entry.base_url}/media",
                    "VSL_ALLOWED_HOSTS": entry.allowed_hosts,
                }
            )
        else:
            # Nothing public: no webhook can arrive, so a prediction is asked for as soon as
            # it is late; people use the studio at http://localhost:8080 (a port forward).
            environment["VSL_LATE_WEBHOOK_S"] = "30"
        return environment

    def _secret_groups(self, sign_in: SignIn) -> dict[str, dict[str, ecs.Secret]]:
        data = self.data

        def fields(secret: secretsmanager.ISecret, prefix: str) -> dict[str, ecs.Secret]:
            return {
                f"{prefix}_USER": ecs.Secret.from_secrets_manager(secret, "username"),
                f"{prefix}_PASSWORD": ecs.Secret.from_secrets_manager(secret, "password"),
            }

        groups = {
            "app_db": fields(data.app_user, "DATABASE"),
            "dagster_db": fields(data.dagster_user, "DAGSTER_PG"),
            # With an SSM prefix the token is `<prefix>replicate-token`, read at start.
            "replicate": (
                {}
                if self.ssm_prefix
                else {
                    "REPLICATE_API_TOKEN": ecs.Secret.from_secrets_manager(data.replicate_api_token)
                }
            ),
            "webhook": {
                "REPLICATE_WEBHOOK_SECRET": ecs.Secret.from_secrets_manager(
                    data.replicate_webhook_secret
                ),
                "VSL_API_KEY": ecs.Secret.from_secrets_manager(data.api_key),
                **sign_in.service_secrets,
            },
            "redis": (
                {"REDIS_PASSWORD": ecs.Secret.from_secrets_manager(data.redis_auth)}
                if data.redis_auth is not None
                else {}
            ),
        }
        return groups

    def secrets_for(self, *groups: str) -> dict[str, ecs.Secret]:
        return {name: s for group in groups for name, s in self.secrets[group].items()}

    # -- roles ---------------------------------------------------------------------------------

    def _role(self, name: str, description: str) -> iam.Role:
        return iam.Role(
            self,
            name,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=description,
        )

    def _token_reader(self, role: iam.IRole) -> None:
        """A role whose containers use the Replicate token: it may read the SSM prefix's
        parameters, when there is one."""
        if self.ssm_prefix:
            grant_ssm_parameters(role, self.ssm_prefix)

    # -- the set-up task -------------------------------------------------------------------------

    def _setup_task(self) -> CustomResource:
        """The task that alone gets the master user, and the custom resource that runs it."""
        data = self.data
        definition = ecs.FargateTaskDefinition(
            self,
            "SetupTaskDefinition",
            family=f"vsl-{self.stage.name}-setup",
            cpu=256,
            memory_limit_mib=512,
            task_role=self._role("SetupTaskRole", "The set-up task: databases and users"),
            execution_role=self._role("SetupExecutionRole", "Set-up: the master secret"),
            runtime_platform=runtime(self.stage.service_arch),
        )
        db_env = {k: v for k, v in data.database_environment.items() if k.startswith("DATABASE_")}
        definition.add_container(
            "setup",
            image=self.image,
            command=["python", "-c", _CREATE_APP_DATABASE],
            environment={
                "DATABASE_HOST": db_env["DATABASE_HOST"],
                "DATABASE_PORT": db_env["DATABASE_PORT"],
                "DATABASE_SSLMODE": db_env["DATABASE_SSLMODE"],
                "DATABASE_SSLROOTCERT": db_env["DATABASE_SSLROOTCERT"],
                "APP_DB_NAME": APP_DATABASE,
                "APP_DB_ROLE": APP_ROLE,
                "DAGSTER_DB_NAME": DAGSTER_DATABASE,
                "DAGSTER_DB_ROLE": DAGSTER_ROLE,
            },
            secrets={
                "MASTER_USER": ecs.Secret.from_secrets_manager(data.master_secret, "username"),
                "MASTER_PASSWORD": ecs.Secret.from_secrets_manager(data.master_secret, "password"),
                "APP_DB_USER": ecs.Secret.from_secrets_manager(data.app_user, "username"),
                "APP_DB_PASSWORD": ecs.Secret.from_secrets_manager(data.app_user, "password"),
                "DAGSTER_DB_USER": ecs.Secret.from_secrets_manager(data.dagster_user, "username"),
                "DAGSTER_DB_PASSWORD": ecs.Secret.from_secrets_manager(
                    data.dagster_user, "password"
                ),
            },
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="setup", log_group=self.log_groups["webhook"]
            ),
        )
        self.setup_definition = definition
        function = lambda_.Function(
            self,
            "RunSetupTask",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline(_RUN_SETUP_TASK),
            timeout=Duration.minutes(14),
            description="Runs the set-up task (database users) and waits for it",
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[task_definition_family_arn(Stack.of(self), definition.family)],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks"],
                resources=[
                    Stack.of(self).format_arn(
                        service="ecs",
                        resource="task",
                        resource_name=f"{self.cluster.cluster_name}/*",
                        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                    )
                ],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[
                    definition.task_role.role_arn,
                    definition.obtain_execution_role().role_arn,
                ],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        subnets = self.network.vpc.select_subnets(**_selection(self.network.task_subnets))
        resource = CustomResource(
            self,
            "Setup",
            service_token=function.function_arn,
            resource_type="Custom::VslSetupTask",
            properties={
                "Cluster": self.cluster.cluster_arn,
                # A new revision (a new image, new users) runs the set-up again.
                "TaskDefinition": definition.task_definition_arn,
                "Subnets": subnets.subnet_ids,
                "SecurityGroups": [self.network.setup.security_group_id],
                "AssignPublicIp": "ENABLED" if self.network.assign_public_ip else "DISABLED",
            },
        )
        resource.node.add_dependency(self.data.database)
        return resource

    # -- containers and services -----------------------------------------------------------------

    def _definition(
        self, name: str, family: str, *, task_role: iam.IRole, cpu: int, memory: int
    ) -> ecs.FargateTaskDefinition:
        return ecs.FargateTaskDefinition(
            self,
            f"{name}TaskDefinition",
            family=family,
            cpu=cpu,
            memory_limit_mib=memory,
            task_role=task_role,
            execution_role=self._role(
                f"{name}ExecutionRole", f"{family}: image, its secrets, logs"
            ),
            runtime_platform=runtime(self.stage.service_arch),
        )

    def _container(
        self,
        definition: ecs.FargateTaskDefinition,
        role: str,
        command: list[str] | None,
        *,
        secrets: dict[str, ecs.Secret],
        log_role: str | None = None,
        port: int | None = None,
        health_check: ecs.HealthCheck | None = None,
        environment: dict[str, str] | None = None,
        essential: bool = True,
    ) -> ecs.ContainerDefinition:
        return definition.add_container(
            role,
            image=self.image,
            entry_point=ENTRY_POINT,
            command=command,
            environment={**self.environment, "VSL_ROLE": _health_role(role), **(environment or {})},
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=role, log_group=self.log_groups[log_role or role]
            ),
            health_check=health_check,
            port_mappings=[ecs.PortMapping(container_port=port)] if port else None,
            essential=essential,
        )

    def _service(
        self,
        name: str,
        definition: ecs.FargateTaskDefinition,
        *,
        desired_count: int,
        security_groups: list[ec2.ISecurityGroup],
        cloud_map_options: ecs.CloudMapOptions | None = None,
        min_healthy_percent: int = 100,
        max_healthy_percent: int = 200,
        behind_alb: bool = False,
        exec_command: bool = False,
    ) -> ecs.FargateService:
        service = ecs.FargateService(
            self,
            f"{name}Service",
            cluster=self.cluster,
            task_definition=definition,
            desired_count=desired_count,
            min_healthy_percent=min_healthy_percent,
            max_healthy_percent=max_healthy_percent,
            security_groups=security_groups,
            vpc_subnets=self.network.task_subnets,
            assign_public_ip=self.network.assign_public_ip,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            cloud_map_options=cloud_map_options,
            health_check_grace_period=Duration.seconds(120) if behind_alb else None,
            enable_execute_command=exec_command,
        )
        self.services[name] = service
        return service

    def _separate_services(self, sign_in: SignIn, entry: PublicEntry | None) -> None:
        stage, network, data = self.stage, self.network, self.data
        self.services: dict[str, ecs.FargateService] = {}
        namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=NAMESPACE, vpc=network.vpc
        )
        self.run_task_role = self._role("RunTaskRole", "Dagster runs: media bucket, tables")
        webhook_role = self._role("WebhookTaskRole", "vsl serve: read media, write webhooks")
        code_role = self._role("CodeServerTaskRole", "Sensors in the code server: bucket, tables")
        self.daemon_role = self._role("DaemonTaskRole", "dagster-daemon: the EcsRunLauncher")
        self.webserver_role = self._role("WebserverTaskRole", "dagster-webserver: stop runs")
        grant_service_data(webhook_role, data)
        for role in (self.run_task_role, code_role):
            grant_pipeline_data(role, data)
        for role in (self.run_task_role, code_role, webhook_role):
            self._token_reader(role)
        grant_compute_logs(self.webserver_role, data, write=False)

        run = self._run_task_definition()
        # By ARN: the revision this deploy registered (a family name would resolve to the latest
        # revision once, when the daemon starts, and go stale at the next deploy).
        run_env = {
            "DAGSTER_RUN_TASK_DEFINITION": run.task_definition_arn,
            "DAGSTER_RUN_CONTAINER_NAME": RUN_CONTAINER,
        }
        for statement in run_launcher_statements(
            self.cluster,
            self.run_family,
            self.run_task_role,
            run.obtain_execution_role(),
            self.log_groups["runs"],
        ):
            self.daemon_role.add_to_policy(statement)
        for statement in run_terminator_statements(self.cluster):
            self.webserver_role.add_to_policy(statement)

        size = {"cpu": stage.service_cpu, "memory": stage.service_memory_mib}
        code = self._definition(
            "CodeServer", f"vsl-{stage.name}-code-server", task_role=code_role, **size
        )
        self._container(
            code,
            "code-server",
            CODE_SERVER_COMMAND,
            secrets=self.secrets_for("dagster_db", "app_db", "replicate", "redis"),
            port=CODE_SERVER_PORT,
            environment={**run_env, **self.token_environment},
            health_check=ecs.HealthCheck(
                command=["CMD", "dagster", "api", "grpc-health-check", "-p", str(CODE_SERVER_PORT)],
                start_period=Duration.seconds(60),
            ),
        )
        self.code_server = self._service(
            "CodeServer",
            code,
            desired_count=stage.code_server_tasks,
            security_groups=[network.code_server],
            cloud_map_options=ecs.CloudMapOptions(
                name=CODE_SERVER_NAME,
                cloud_map_namespace=namespace,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(10),
            ),
        )

        webserver = self._definition(
            "Webserver", f"vsl-{stage.name}-webserver", task_role=self.webserver_role, **size
        )
        self._container(
            webserver,
            "webserver",
            WEBSERVER_COMMAND,
            secrets=self.secrets_for("dagster_db"),
            port=WEBSERVER_PORT,
            environment=run_env,
        )
        # ECS Exec: the UI's port forward (`aws ssm start-session`, docs/DEPLOYMENT.md).
        self.webserver = self._service(
            "Webserver",
            webserver,
            desired_count=stage.webserver_tasks,
            security_groups=[network.webserver],
            behind_alb=entry is not None and entry.ui_listener is not None,
            exec_command=True,
        )

        daemon = self._definition(
            "Daemon", f"vsl-{stage.name}-daemon", task_role=self.daemon_role, **size
        )
        self._container(
            daemon,
            "daemon",
            DAEMON_COMMAND,
            secrets=self.secrets_for("dagster_db"),
            environment=run_env,
            health_check=DAEMON_HEALTH_CHECK,
        )
        # Two daemons would evaluate every sensor and schedule twice: the old task stops before
        # the new one starts (min 0 %, max 100 %).
        self.daemon = self._service(
            "Daemon",
            daemon,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            security_groups=[network.daemon],
        )

        for dependent in (self.webserver, self.daemon):
            dependent.node.add_dependency(self.code_server)
        if entry is None:
            return

        webhook = self._definition(
            "Webhook", f"vsl-{stage.name}-webhook", task_role=webhook_role, **size
        )
        self._container(
            webhook,
            "webhook",
            WEBHOOK_COMMAND,
            secrets=self.secrets_for("app_db", "replicate", "webhook", "redis"),
            port=WEBHOOK_PORT,
            # uvicorn believes X-Forwarded-For/-Proto from the ALB's subnets only: the studio
            # then builds its https:// sign-in callback and Secure cookies, and sees the real
            # client address (the ALB appends it; what a client sent before it stays
            # untrusted). Idle connections are the ALB's to close (keep-alive above its idle
            # timeout). The studio's OpenID client: its issuer and id in the open.
            environment={
                "FORWARDED_ALLOW_IPS": ",".join(
                    subnet.ipv4_cidr_block for subnet in network.vpc.public_subnets
                ),
                "VSL_KEEP_ALIVE_S": str(SERVICE_KEEP_ALIVE_S),
                **sign_in.service_environment,
                **self.token_environment,
            },
        )
        self.webhook = self._service(
            "Webhook",
            webhook,
            desired_count=stage.webhook_min_tasks,
            security_groups=[network.webhook],
            behind_alb=True,
        )
        # The count is autoscaling's: a deploy that named it would reset it to the minimum.
        cfn_service = self.webhook.node.default_child
        assert isinstance(cfn_service, ecs.CfnService)
        cfn_service.add_property_deletion_override("DesiredCount")
        self._expose(entry, sign_in)

    def _run_task_definition(self) -> ecs.FargateTaskDefinition:
        """What the EcsRunLauncher starts for each run: no command (the launcher gives it).
        x86_64 where runs go to Fargate Spot, which takes no ARM64 task."""
        arch = "x86_64" if self.stage.run_capacity == "FARGATE_SPOT" else self.stage.service_arch
        definition = ecs.FargateTaskDefinition(
            self,
            "RunTaskDefinition",
            family=self.run_family,
            cpu=self.stage.run_cpu,
            memory_limit_mib=self.stage.run_memory_mib,
            ephemeral_storage_gib=self.stage.run_ephemeral_gib,
            task_role=self.run_task_role,
            execution_role=self._role("RunExecutionRole", "Execution role of run tasks"),
            runtime_platform=runtime(arch),
        )
        definition.add_container(
            RUN_CONTAINER,
            image=self.image,
            entry_point=ENTRY_POINT,
            environment={**self.environment, "VSL_ROLE": "run", **self.token_environment},
            secrets=self.secrets_for("dagster_db", "app_db", "replicate", "redis"),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="run", log_group=self.log_groups["runs"]),
        )
        self.run_definition = definition
        return definition

    def _all_in_one(self) -> None:
        """The small profile: the webserver, the daemon, the code server and `vsl serve` as four
        containers of one task (they find each other on 127.0.0.1), runs as the code server's
        subprocesses. One task role, the union of what they do (no ECS permission: nothing is
        launched); nothing reaches the task from outside (no inbound rule), ECS Exec forwards
        the studio's and the UI's ports."""
        stage, data = self.stage, self.data
        self.services = {}
        role = self._role("DagsterTaskRole", "Dagster and vsl serve in one task: bucket, tables")
        grant_pipeline_data(role, data)
        self._token_reader(role)
        definition = self._definition(
            "Dagster",
            f"vsl-{stage.name}-dagster",
            task_role=role,
            cpu=stage.service_cpu,
            memory=stage.service_memory_mib,
        )
        everything = self.secrets_for("dagster_db", "app_db", "replicate", "webhook", "redis")
        code = self._container(
            definition,
            "code-server",
            CODE_SERVER_COMMAND,
            secrets=everything,
            environment=self.token_environment,
            health_check=ecs.HealthCheck(
                command=["CMD", "dagster", "api", "grpc-health-check", "-p", str(CODE_SERVER_PORT)],
                start_period=Duration.seconds(120),
            ),
        )
        others = [
            self._container(
                definition,
                "webserver",
                WEBSERVER_COMMAND,
                secrets=self.secrets_for("dagster_db"),
            ),
            self._container(
                definition,
                "daemon",
                ["vsl", "role", "daemon"],
                secrets=self.secrets_for("dagster_db"),
                health_check=DAEMON_HEALTH_CHECK,
            ),
            self._container(
                definition,
                "webhook",
                WEBHOOK_COMMAND,
                secrets=self.secrets_for("app_db", "replicate", "webhook", "redis"),
                environment=self.token_environment,
            ),
        ]
        for container in others:
            container.add_container_dependencies(
                ecs.ContainerDependency(
                    container=code, condition=ecs.ContainerDependencyCondition.HEALTHY
                )
            )
        self.all_in_one = self._service(
            "Dagster",
            definition,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            security_groups=[self.network.daemon],
            exec_command=True,
        )
        self.daemon = self.all_in_one

    def _expose(self, entry: PublicEntry, sign_in: SignIn) -> None:
        assert self.webhook is not None and self.webserver is not None
        self.webhook_targets = entry.public_listener.add_targets(
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
        scaling = self.webhook.auto_scale_task_count(
            min_capacity=self.stage.webhook_min_tasks, max_capacity=self.stage.webhook_max_tasks
        )
        scaling.scale_on_request_count(
            "RequestsPerTarget",
            requests_per_target=self.stage.webhook_requests_per_target,
            target_group=self.webhook_targets,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        if entry.ui_listener is None or sign_in.ui_client is None:
            return  # no HTTPS: no UI listener; the UI through ECS Exec alone
        # In the listener's scope under the id `add_targets` would give it: the same logical id
        # as before the sign-in, so no replacement of the group (or of the service using it).
        self.webserver_targets = elbv2.ApplicationTargetGroup(
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
        # Cognito first: the ALB sends whoever has no session to the hosted sign-in page and
        # forwards only signed-in requests (with their claims in x-amzn-oidc-* headers). It
        # reaches Cognito's token endpoint over HTTPS: the action opens 443 outbound.
        entry.ui_listener.add_action(
            "Webserver",
            action=elbv2_actions.AuthenticateCognitoAction(
                user_pool=sign_in.user_pool,
                user_pool_client=sign_in.ui_client,
                user_pool_domain=sign_in.domain,
                scope="openid email",
                session_cookie_name="vsl-dagster-ui",
                session_timeout=UI_SESSION,
                next=elbv2.ListenerAction.forward([self.webserver_targets]),
            ),
        )


# `dagster-daemon liveness-check` (`vsl health` for VSL_ROLE=daemon): every daemon heart-beat
# lately; a daemon whose thread stopped beating is replaced.
DAEMON_HEALTH_CHECK = ecs.HealthCheck(
    command=["CMD", "vsl", "health"],
    interval=Duration.seconds(60),
    timeout=Duration.seconds(30),
    retries=3,
    start_period=Duration.seconds(180),
)


def _health_role(container: str) -> str:
    """`VSL_ROLE`, which `vsl health` checks by."""
    return {"webhook": "service"}.get(container, container)


def _selection(selection: ec2.SubnetSelection) -> dict[str, object]:
    return {
        key: value
        for key, value in (
            ("subnet_type", selection.subnet_type),
            ("subnet_group_name", selection.subnet_group_name),
        )
        if value is not None
    }
