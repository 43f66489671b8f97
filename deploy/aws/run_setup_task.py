# The set-up custom resource's function (inline code: no CDK asset). On Create and Update it
# runs the set-up task definition once and waits for its container to exit; a non-zero exit
# (or a task that never starts) fails the deploy with the reason. Delete does nothing.
import time

import boto3
import cfnresponse


def handler(event, context):
    props = event["ResourceProperties"]
    physical = event.get("PhysicalResourceId") or "vsl-setup"
    if event["RequestType"] == "Delete":
        return cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, physical)
    try:
        ecs = boto3.client("ecs")
        started = ecs.run_task(
            cluster=props["Cluster"],
            taskDefinition=props["TaskDefinition"],
            launchType="FARGATE",
            count=1,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": props["Subnets"],
                    "securityGroups": props["SecurityGroups"],
                    "assignPublicIp": props["AssignPublicIp"],
                }
            },
        )
        if started.get("failures"):
            raise RuntimeError(f"RunTask failed: {started['failures']}")
        arn = started["tasks"][0]["taskArn"]
        while context.get_remaining_time_in_millis() > 30000:
            task = ecs.describe_tasks(cluster=props["Cluster"], tasks=[arn])["tasks"][0]
            if task["lastStatus"] == "STOPPED":
                code = task["containers"][0].get("exitCode")
                if code != 0:
                    reason = task["containers"][0].get("reason") or task.get("stoppedReason")
                    raise RuntimeError(f"set-up task {arn} exited {code}: {reason}")
                return cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, physical)
            time.sleep(10)
        raise RuntimeError(f"set-up task {arn} still running; see its log (webhook group)")
    except Exception as exc:  # every failure must answer CloudFormation, or it waits an hour
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, physical, reason=str(exc)[:900])
