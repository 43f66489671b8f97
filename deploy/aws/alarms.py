"""Alarms and the SNS topic they notify (optionally emailed), and the stage's dashboard.

- Spend: a CloudWatch alarm per workspace on what its predictions cost in a day, one on all
  workspaces together. They watch `SpendUSD` in `VSL/MediaGeneration`, which CloudWatch Logs
  extracts from the runs' Embedded Metric Format log lines (`vsl_pipelines/metrics/emf.py`):
  each finished prediction's actual cost, once with the dimension `workspace` (its slug) and
  once without (the total).
- Operations (`OperationalAlarms`): the load balancer's 5xx and unhealthy targets, the daemon
  not running, RDS CPU, free storage and connections, failed runs (a metric filter on the
  runs' log lines); and one dashboard of the same.
Every alarm is named `<stack>-...`, which the topic's and its key's policies let CloudWatch in
for.
"""

from __future__ import annotations

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from deploy.aws.stages import DeployContext, StageSettings
from vsl_pipelines.metrics.emf import NAMESPACE

SPEND_METRIC = "SpendUSD"
WORKSPACE_DIMENSION = "workspace"
_CLOUDWATCH = "cloudwatch.amazonaws.com"


class SpendAlarms(Construct):
    """The alarms `spend_alarms` (per workspace) and `daily_spend_alarm_usd` (total) ask for and
    their topic, made whenever any alarm of the stack exists (`with_operations`: the
    operational alarms always do); `topic` is None without any alarm."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        context: DeployContext,
        with_operations: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.topic: sns.Topic | None = None
        self.alarms: dict[str | None, cloudwatch.Alarm] = {}  # by workspace; None: the total
        # Alarm names start with the stack's name, so the grants below can name them all.
        self.stack_prefix = f"{Stack.of(self).stack_name}-"
        self.name_prefix = f"{self.stack_prefix}spend-"
        if not context.spend_alarms and stage.daily_spend_alarm_usd is None:
            if context.alarm_email and not with_operations:
                Annotations.of(self).add_warning_v2(
                    "vsl:alarm-email-without-alarms",
                    "alarm_email is set but no spend alarm is: set spend_alarms or "
                    "daily_spend_alarm_usd, or the address gets nothing.",
                )
            if not with_operations:
                return
        self.topic = self._topic(stage, context)
        self.action = cloudwatch_actions.SnsAction(self.topic)
        action = self.action
        for slug, usd in sorted(context.spend_alarms.items()):
            alarm = self._alarm(
                f"Workspace-{slug}",
                name=f"{self.name_prefix}workspace-{slug}",
                what=f"workspace {slug}",
                usd=usd,
                dimensions={WORKSPACE_DIMENSION: slug},
            )
            alarm.add_alarm_action(action)
            self.alarms[slug] = alarm
        if stage.daily_spend_alarm_usd is not None:
            total = self._alarm(
                "AllWorkspaces",
                name=f"{self.name_prefix}all-workspaces",
                what="all workspaces together",
                usd=stage.daily_spend_alarm_usd,
                dimensions=None,
            )
            total.add_alarm_action(action)
            self.alarms[None] = total

    def _topic(self, stage: StageSettings, context: DeployContext) -> sns.Topic:
        # CloudWatch cannot publish to a topic under the AWS-managed key (aws/sns): its key policy
        # cannot let CloudWatch use it. A key of the stack's own does. It guards messages in
        # flight only, so it goes with the stack.
        key = kms.Key(
            self,
            "TopicKey",
            description=f"VSL Pipelines ({stage.name}): the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        key.add_to_resource_policy(
            self._from_these_alarms(actions=["kms:Decrypt", "kms:GenerateDataKey*"], resource="*")
        )
        topic = sns.Topic(
            self,
            "Topic",
            display_name=f"VSL Pipelines {stage.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            self._from_these_alarms(actions=["sns:Publish"], resource=topic.topic_arn)
        )
        if context.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(context.alarm_email))
        return topic

    def _from_these_alarms(self, *, actions: list[str], resource: str) -> iam.PolicyStatement:
        """CloudWatch may do `actions` on behalf of this stack's alarms only."""
        return iam.PolicyStatement(
            principals=[iam.ServicePrincipal(_CLOUDWATCH)],
            actions=actions,
            resources=[resource],
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {
                    "aws:SourceArn": (
                        f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}"
                        f":alarm:{self.stack_prefix}*"
                    )
                },
            },
        )

    def _alarm(
        self, id: str, *, name: str, what: str, usd: float, dimensions: dict[str, str] | None
    ) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=SPEND_METRIC,
            dimensions_map=dimensions,
            statistic=cloudwatch.Stats.SUM,
            period=Duration.days(1),
        )
        return cloudwatch.Alarm(
            self,
            id,
            alarm_name=name,
            alarm_description=(
                f"Prediction spend of {what} over {usd:g} USD in a day "
                f"({SPEND_METRIC} in {NAMESPACE}, from the runs' log lines)"
            ),
            metric=metric,
            threshold=usd,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


FAILED_RUNS_METRIC = "FailedRuns"
DAGSTER_NAMESPACE = "VSL/Dagster"
# Dagster's run worker logs the RUN_FAILURE event; run monitoring logs a worker found dead.
FAILED_RUN_PATTERNS = ('"RUN_FAILURE"', '"Detected run worker status FAILED"')


class OperationalAlarms(Construct):
    """The stage's operational alarms (to `action`) and its dashboard."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        action: cloudwatch_actions.SnsAction,
        database: rds.DatabaseInstance,
        daemon: ecs.FargateService,
        run_logs: list[logs.ILogGroup],
        load_balancer: elbv2.ApplicationLoadBalancer | None = None,
        target_groups: dict[str, elbv2.ApplicationTargetGroup | None] | None = None,
    ) -> None:
        super().__init__(scope, id)
        prefix = f"{Stack.of(self).stack_name}-"
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        def alarm(
            name: str,
            metric: cloudwatch.IMetric,
            *,
            threshold: float,
            description: str,
            comparison: cloudwatch.ComparisonOperator = (
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
            ),
            periods: int = 1,
            missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        ) -> None:
            made = cloudwatch.Alarm(
                self,
                name,
                alarm_name=f"{prefix}{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=comparison,
                treat_missing_data=missing,
            )
            made.add_alarm_action(action)
            made.add_ok_action(action)
            self.alarms[name] = made

        five_minutes = Duration.minutes(5)
        widgets: list[cloudwatch.IWidget] = []
        if load_balancer is not None:
            metrics = load_balancer.metrics
            elb_5xx = metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_5XX_COUNT, period=five_minutes, statistic="Sum"
            )
            target_5xx = metrics.http_code_target(
                elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=five_minutes, statistic="Sum"
            )
            alarm(
                "alb-5xx",
                elb_5xx,
                threshold=10,
                description="The load balancer answered 5xx (502/503/504) 10+ times in 5 minutes",
            )
            alarm(
                "target-5xx",
                target_5xx,
                threshold=10,
                description="The webhook service answered 5xx 10+ times in 5 minutes",
            )
            widgets.append(
                cloudwatch.GraphWidget(
                    title="Requests and 5xx",
                    left=[metrics.request_count(period=five_minutes, statistic="Sum")],
                    right=[elb_5xx, target_5xx],
                )
            )
            for role, group in (target_groups or {}).items():
                if group is None:
                    continue
                unhealthy = group.metrics.unhealthy_host_count(
                    period=Duration.minutes(1), statistic="Maximum"
                )
                alarm(
                    f"{role}-unhealthy-targets",
                    unhealthy,
                    threshold=1,
                    periods=3,
                    description=f"A {role} task failed its load balancer health check 3 minutes",
                )
                widgets.append(cloudwatch.GraphWidget(title=f"{role} unhealthy", left=[unhealthy]))
        # ECS reports a service's CPU only while one of its tasks runs: no sample is no daemon.
        daemon_samples = daemon.metric_cpu_utilization(
            period=Duration.minutes(1), statistic="SampleCount"
        )
        alarm(
            "daemon-not-running",
            daemon_samples,
            threshold=1,
            periods=5,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description="No Dagster daemon task for 5 minutes: no sensor, schedule or run queue",
        )
        db_cpu = database.metric_cpu_utilization(period=five_minutes, statistic="Average")
        free = database.metric_free_storage_space(period=five_minutes, statistic="Minimum")
        connections = database.metric_database_connections(period=five_minutes, statistic="Maximum")
        alarm(
            "db-cpu",
            db_cpu,
            threshold=stage.alarm_db_cpu_percent,
            periods=3,
            description=f"RDS CPU at {stage.alarm_db_cpu_percent:g} % or more for 15 minutes",
        )
        alarm(
            "db-free-storage",
            free,
            threshold=stage.alarm_db_free_storage_gib * 1024**3,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            description=f"RDS free storage under {stage.alarm_db_free_storage_gib:g} GiB",
        )
        alarm(
            "db-connections",
            connections,
            threshold=stage.alarm_db_connections,
            periods=2,
            description=f"{stage.alarm_db_connections}+ database connections (pool exhaustion)",
        )
        for group in run_logs:
            for index, pattern in enumerate(FAILED_RUN_PATTERNS):
                logs.MetricFilter(
                    self,
                    f"FailedRuns{group.node.id}{index}",
                    log_group=group,
                    filter_pattern=logs.FilterPattern.literal(pattern),
                    metric_namespace=DAGSTER_NAMESPACE,
                    metric_name=FAILED_RUNS_METRIC,
                    metric_value="1",
                    default_value=0,
                )
        failed = cloudwatch.Metric(
            namespace=DAGSTER_NAMESPACE,
            metric_name=FAILED_RUNS_METRIC,
            statistic="Sum",
            period=Duration.hours(1),
        )
        alarm(
            "failed-runs",
            failed,
            threshold=stage.alarm_failed_runs_per_hour,
            description=f"{stage.alarm_failed_runs_per_hour}+ failed Dagster runs in an hour",
        )
        spend = cloudwatch.Metric(
            namespace=NAMESPACE, metric_name=SPEND_METRIC, statistic="Sum", period=Duration.hours(1)
        )
        widgets += [
            cloudwatch.GraphWidget(title="Daemon tasks (CPU samples)", left=[daemon_samples]),
            cloudwatch.GraphWidget(title="RDS CPU %", left=[db_cpu]),
            cloudwatch.GraphWidget(title="RDS free storage (bytes)", left=[free]),
            cloudwatch.GraphWidget(title="RDS connections", left=[connections]),
            cloudwatch.GraphWidget(title="Failed runs per hour", left=[failed]),
            cloudwatch.GraphWidget(title="Prediction spend per hour (USD)", left=[spend]),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values())),
        ]
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{prefix}operations", widgets=[widgets]
        )
