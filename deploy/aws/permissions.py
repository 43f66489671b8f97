"""What each task role may do, kept to what the code calls.

The daemon launches runs through dagster-aws's `EcsRunLauncher` (dagster_aws/ecs/launcher.py):
it describes its own task and network interfaces (runs inherit its subnets and security
groups), registers or describes the run task definition, runs the task with tags, watches it and
reads its last log lines when it fails. The webserver only terminates runs. The app roles (the
webhook service, the code server evaluating sensors, the runs) read and write the media bucket
and the two tables.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from deploy.aws.data import DataStores

# Actions that take no resource-level permission: they can only be granted on "*".
UNSCOPED_ACTIONS = frozenset(
    {
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "ec2:DescribeNetworkInterfaces",
        "ecr:GetAuthorizationToken",
    }
)


def _cluster_tasks_arn(cluster: ecs.ICluster) -> str:
    """Every task of this cluster (task ARNs carry the cluster name)."""
    return Stack.of(cluster).format_arn(
        service="ecs",
        resource="task",
        resource_name=f"{cluster.cluster_name}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def _any_task_definition_arn(cluster: ecs.ICluster) -> str:
    return Stack.of(cluster).format_arn(
        service="ecs",
        resource="task-definition",
        resource_name="*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def run_terminator_statements(cluster: ecs.ICluster) -> list[iam.PolicyStatement]:
    """Terminate a run: see its task, stop it (both only in this cluster)."""
    return [
        iam.PolicyStatement(
            sid="WatchAndStopRunTasks",
            actions=["ecs:DescribeTasks", "ecs:StopTask"],
            resources=[_cluster_tasks_arn(cluster)],
        ),
        # With `task_definition` naming a family, the launcher describes it when it is built,
        # in every process that loads the instance.
        iam.PolicyStatement(
            sid="ReadRunTaskDefinition",
            actions=["ecs:DescribeTaskDefinition"],
            resources=["*"],
        ),
    ]


def run_launcher_statements(
    cluster: ecs.ICluster,
    run_task_role: iam.IRole,
    run_execution_role: iam.IRole,
    run_log_group: logs.ILogGroup,
) -> list[iam.PolicyStatement]:
    """Launch, watch and stop runs as Fargate tasks of this cluster, in these two roles only."""
    return [
        *run_terminator_statements(cluster),
        iam.PolicyStatement(
            sid="RunTasksInCluster",
            actions=["ecs:RunTask"],
            resources=[_any_task_definition_arn(cluster)],
            conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
        ),
        iam.PolicyStatement(
            sid="TagRunTasksAtLaunch",
            actions=["ecs:TagResource"],
            resources=[_cluster_tasks_arn(cluster)],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
        ),
        iam.PolicyStatement(
            sid="RegisterRunTaskDefinitions",
            actions=["ecs:RegisterTaskDefinition"],
            resources=["*"],
        ),
        # `use_current_ecs_task_config`: runs get the subnets and groups of the daemon's ENI.
        iam.PolicyStatement(
            sid="ReadOwnNetworkInterface",
            actions=["ec2:DescribeNetworkInterfaces"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="PassRunRoles",
            actions=["iam:PassRole"],
            resources=[run_task_role.role_arn, run_execution_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
        # A failed run's message carries the last lines of its log.
        iam.PolicyStatement(
            sid="ReadFailedRunLogs",
            actions=["logs:GetLogEvents"],
            resources=[run_log_group.log_group_arn],
        ),
    ]


def grant_app_data(role: iam.IGrantable, data: DataStores) -> None:
    """Media bucket read/write, both tables read/write: what the app code touches on AWS."""
    data.bucket.grant_read_write(role)
    data.inbox_table.grant_read_write_data(role)
    data.jobs_table.grant_read_write_data(role)
