"""The VSL Pipelines stack of one stage: network, data stores, the public entry, sign-in (Cognito),
the services, the alarms and the dashboard, with the outputs an operator needs after a deploy."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deploy.aws.alarms import OperationalAlarms, SpendAlarms
from deploy.aws.data import DataStores, replica_bucket_name
from deploy.aws.delivery import FinalMediaDistribution
from deploy.aws.identity import SignIn
from deploy.aws.ingress import PublicEntry
from deploy.aws.network import Network
from deploy.aws.region import primary_failover_record
from deploy.aws.services import Services
from deploy.aws.stages import DeployContext, StageSettings


class VslStack(Stack):
    """Everything `vsl serve`, Dagster and the runs need on AWS, sized by `stage`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        context: DeployContext,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id,
            description=f"VSL Pipelines ({stage.name}): webhook service, Dagster on ECS Fargate",
            **kwargs,  # type: ignore[arg-type]
        )
        Tags.of(self).add("project", "vsl-pipelines")
        Tags.of(self).add("stage", stage.name)
        network = Network(self, "Network", stage=stage, context=context)
        data = DataStores(self, "Data", stage=stage, network=network, dr_region=context.dr_region)
        entry = (
            PublicEntry(self, "Entry", network=network, context=context, stage=stage)
            if stage.public_entry == "alb"
            else None
        )
        sign_in = SignIn(self, "SignIn", stage=stage, context=context)
        final_media = FinalMediaDistribution(
            self,
            "FinalMedia",
            bucket=data.bucket,
            stage=stage.name,
            standby_bucket=(
                s3.Bucket.from_bucket_attributes(
                    self,
                    "MediaStandby",
                    bucket_name=replica_bucket_name(stage.name),
                    region=context.dr_region,
                )
                if context.dr_region
                else None
            ),
        )
        services = Services(
            self,
            "Services",
            stage=stage,
            context=context,
            network=network,
            data=data,
            entry=entry,
            sign_in=sign_in,
            media_cdn_url=final_media.url,
        )
        alarms = SpendAlarms(self, "Alarms", stage=stage, context=context, with_operations=True)
        assert alarms.topic is not None
        OperationalAlarms(
            self,
            "Operations",
            stage=stage,
            action=alarms.action,
            database=data.database,
            daemon=services.daemon,
            # In-process runs (the small profile) log with the code server.
            run_logs=[
                services.log_groups["code-server" if stage.all_in_one else "runs"],
                services.log_groups["daemon"],
            ],
            load_balancer=entry.alb if entry is not None else None,
            target_groups={
                "webhook": services.webhook_targets,
                "webserver": services.webserver_targets,
            },
        )
        outputs = {
            "MediaBucketName": data.bucket.bucket_name,
            "FinalMediaUrl": final_media.url,
            "ClusterName": services.cluster.cluster_name,
            "ReplicateApiTokenSecretArn": data.replicate_api_token.secret_arn,
            "ReplicateWebhookSecretArn": data.replicate_webhook_secret.secret_arn,
            "ApiKeySecretArn": data.api_key.secret_arn,
            "UserPoolId": sign_in.user_pool.user_pool_id,
            "SignInDomainUrl": sign_in.hosted_ui_url,
            "OidcIssuer": sign_in.issuer,
        }
        if entry is not None and context.hosted_zone_id and context.https_host:
            primary_failover_record(
                self,
                context,
                stage,
                entry.alb.load_balancer_dns_name,
                entry.alb.load_balancer_canonical_hosted_zone_id,
            )
        if entry is not None:
            outputs["AlbDnsName"] = entry.alb.load_balancer_dns_name
            outputs["ServiceUrl"] = entry.base_url
            if entry.ui_url is not None:
                outputs["DagsterUiUrl"] = entry.ui_url
        if alarms.topic is not None:
            outputs["AlarmTopicArn"] = alarms.topic.topic_arn
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
