"""Spend alarms: a CloudWatch alarm per workspace on what its predictions cost in a day, one on
all workspaces together, and the SNS topic they notify (optionally emailed).

They watch `SpendUSD` in `VSL/MediaGeneration`, which CloudWatch Logs extracts from the runs'
Embedded Metric Format log lines (`vsl_pipelines/metrics/emf.py`): each finished prediction's
actual cost, once with the dimension `workspace` (its slug) and once without (the total).
"""

from __future__ import annotations

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from deploy.aws.stages import DeployContext, StageSettings
from vsl_pipelines.metrics.emf import NAMESPACE

SPEND_METRIC = "SpendUSD"
WORKSPACE_DIMENSION = "workspace"
_CLOUDWATCH = "cloudwatch.amazonaws.com"


class SpendAlarms(Construct):
    """The alarms `spend_alarms` (per workspace) and `daily_spend_alarm_usd` (total) ask for and,
    when there is at least one, their topic; `topic` is None without any."""

    def __init__(
        self, scope: Construct, id: str, *, stage: StageSettings, context: DeployContext
    ) -> None:
        super().__init__(scope, id)
        self.topic: sns.Topic | None = None
        self.alarms: dict[str | None, cloudwatch.Alarm] = {}  # by workspace; None: the total
        if not context.spend_alarms and stage.daily_spend_alarm_usd is None:
            if context.alarm_email:
                Annotations.of(self).add_warning_v2(
                    "vsl:alarm-email-without-alarms",
                    "alarm_email is set but no spend alarm is: set spend_alarms or "
                    "daily_spend_alarm_usd, or the address gets nothing.",
                )
            return
        # Alarm names start with the stack's name, so the grants below can name them all.
        self.name_prefix = f"{Stack.of(self).stack_name}-spend-"
        self.topic = self._topic(stage, context)
        action = cloudwatch_actions.SnsAction(self.topic)
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
            description=f"VSL Pipelines ({stage.name}): the spend alarm topic",
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
            display_name=f"VSL Pipelines {stage.name} spend alarms",
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
        """CloudWatch may do `actions` on behalf of this stack's spend alarms only."""
        return iam.PolicyStatement(
            principals=[iam.ServicePrincipal(_CLOUDWATCH)],
            actions=actions,
            resources=[resource],
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {
                    "aws:SourceArn": (
                        f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}"
                        f":alarm:{self.name_prefix}*"
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
