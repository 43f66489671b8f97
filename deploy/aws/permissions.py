"""What each task role may do, kept to what the code calls.

The daemon launches runs through dagster-aws's `EcsRunLauncher` (dagster_aws/ecs/launcher.py),
given the run task definition by ARN and the runs' network by the instance file
(`use_current_ecs_task_config: false`): it describes that task definition, runs it with tags,
watches the task and reads its last log lines when it fails. It registers nothing. The webserver
only terminates runs and reads their compute logs. The app roles read and write what their code
touches (`storage/s3.py`: get, head, put with a tag; `inbox/dynamodb.py`: conditional puts and
updates, queries by the reader; `job_status/dynamodb_table.py`: get and put); none deletes an
object or an item (lifecycle rules and TTL do), none scans.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from deploy.aws.data import DataStores

# Actions that take no resource-level permission: they can only be granted on "*".
UNSCOPED_ACTIONS = frozenset(
    {
        "ecs:DescribeTaskDefinition",
        "ecr:GetAuthorizationToken",
        # ECS Exec (the Dagster UI's port forward): the SSM agent's channels.
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        # ...and where it logs the session (CDK asks for the group by listing them).
        "logs:DescribeLogGroups",
    }
)
# Where Dagster's S3ComputeLogManager writes (deploy/dagster/ecs/dagster.yaml).
COMPUTE_LOG_PREFIX = "dagster/compute-logs/"

READ_OBJECTS = ["s3:GetObject"]
WRITE_OBJECTS = ["s3:PutObject", "s3:PutObjectTagging"]
# A HEAD of a missing key answers 404 only to who may list the bucket (else 403).
LIST_BUCKET = ["s3:ListBucket"]
INBOX_WRITER = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
INBOX_READER = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"]
JOBS_READ_WRITE = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]


def _cluster_tasks_arn(cluster: ecs.ICluster) -> str:
    """Every task of this cluster (task ARNs carry the cluster name)."""
    return Stack.of(cluster).format_arn(
        service="ecs",
        resource="task",
        resource_name=f"{cluster.cluster_name}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def task_definition_family_arn(scope: Stack, family: str) -> str:
    """Every revision of one task definition family."""
    return scope.format_arn(
        service="ecs",
        resource="task-definition",
        resource_name=f"{family}:*",
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
        # The launcher describes its task definition when it is built, in every process that
        # loads the instance.
        iam.PolicyStatement(
            sid="ReadRunTaskDefinition",
            actions=["ecs:DescribeTaskDefinition"],
            resources=["*"],
        ),
    ]


def run_launcher_statements(
    cluster: ecs.ICluster,
    run_family: str,
    run_task_role: iam.IRole,
    run_execution_role: iam.IRole,
    run_log_group: logs.ILogGroup,
) -> list[iam.PolicyStatement]:
    """Launch, watch and stop runs as tasks of the stage's run task definition, in this
    cluster and these two roles only."""
    return [
        *run_terminator_statements(cluster),
        iam.PolicyStatement(
            sid="RunTheRunTaskDefinition",
            actions=["ecs:RunTask"],
            resources=[task_definition_family_arn(Stack.of(cluster), run_family)],
            conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
        ),
        iam.PolicyStatement(
            sid="TagRunTasksAtLaunch",
            actions=["ecs:TagResource"],
            resources=[_cluster_tasks_arn(cluster)],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
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


def _objects(bucket: s3.IBucket, prefix: str = "") -> str:
    return bucket.arn_for_objects(f"{prefix}*")


def _statement(sid: str, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=actions, resources=resources)


def grant_service_data(role: iam.IRole, data: DataStores) -> None:
    """The public service: read the media it presigns and serves, write the outputs it collects
    at their webhooks, write webhooks to the inbox, read and write job status documents."""
    for statement in (
        _statement("ReadWriteMedia", [*READ_OBJECTS, *WRITE_OBJECTS], [_objects(data.bucket)]),
        _statement("HeadMissingMedia", LIST_BUCKET, [data.bucket.bucket_arn]),
        _statement("WriteInbox", INBOX_WRITER, [data.inbox_table.table_arn]),
        _statement("JobStatus", JOBS_READ_WRITE, [data.jobs_table.table_arn]),
    ):
        role.add_to_principal_policy(statement)


def grant_pipeline_data(role: iam.IRole, data: DataStores) -> None:
    """Sensors (the code server) and runs: read and write media, read the inbox, job status."""
    for statement in (
        _statement("ReadWriteMedia", [*READ_OBJECTS, *WRITE_OBJECTS], [_objects(data.bucket)]),
        _statement("HeadMissingMedia", LIST_BUCKET, [data.bucket.bucket_arn]),
        _statement("ReadInbox", INBOX_READER, [data.inbox_table.table_arn]),
        _statement("JobStatus", JOBS_READ_WRITE, [data.jobs_table.table_arn]),
    ):
        role.add_to_principal_policy(statement)


def grant_compute_logs(role: iam.IRole, data: DataStores, *, write: bool) -> None:
    """Runs write their compute logs; the webserver shows them."""
    actions = [*READ_OBJECTS, *WRITE_OBJECTS] if write else READ_OBJECTS
    role.add_to_principal_policy(
        _statement("ComputeLogs", actions, [_objects(data.bucket, COMPUTE_LOG_PREFIX)])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ListComputeLogs",
            actions=LIST_BUCKET,
            resources=[data.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": f"{COMPUTE_LOG_PREFIX}*"}},
        )
    )


def ssm_parameters_arn(scope: Stack, prefix: str) -> str:
    """Every parameter under a path (`/vsl/` -> `arn:...:parameter/vsl/*`)."""
    return scope.format_arn(
        service="ssm",
        resource="parameter",
        resource_name=f"{prefix.strip('/')}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def grant_ssm_parameters(role: iam.IRole, prefix: str) -> None:
    """The entry point's one `GetParameters` call under `VSL_SSM_PREFIX` (ssm_parameters.py).
    SecureStrings under the AWS-managed key `aws/ssm` need no KMS statement (its key policy lets
    the account's principals decrypt through SSM); a customer-managed key needs kms:Decrypt."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadSsmParameters",
            actions=["ssm:GetParameters"],
            resources=[ssm_parameters_arn(Stack.of(role), prefix)],
        )
    )
