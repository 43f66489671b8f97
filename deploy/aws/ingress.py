"""The public entry: one internet-facing ALB, its WAF web ACL, and up to two listeners.

- 443 with a certificate (80 redirecting), else 80 (dev alone: staging and prod refuse to
  synthesize without one): every path goes to the webhook service (`/webhooks/*`, `/api/*`,
  `/media/*`, `/review*`, `/studio*`, `/healthz`, `/metrics`).
- 3000, only with a certificate: the Dagster UI, which has no login of its own, behind the
  ALB's Cognito sign-in (its actions are set in services.py, beside the webserver's target
  group) and reachable from `admin_cidr` alone. Without a certificate there is no UI listener:
  the UI is reached through an ECS Exec port forward (docs/DEPLOYMENT.md).

The web ACL (AWS WAF, regional) limits each client address (all paths but the signed webhooks,
and tighter on the sign-in paths) and applies AWS's managed common rule set; request bodies
over its 8 KB inspection limit (webhook payloads, scripts) are counted, not blocked.
"""

from __future__ import annotations

from aws_cdk import Duration, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from deploy.aws.network import WEBSERVER_PORT, Network
from deploy.aws.stages import DeployContext, StageSettings

# The ALB closes idle connections after this; the service keeps them longer (services.py).
ALB_IDLE_TIMEOUT_S = 60
WEBHOOK_PATH_PREFIX = "/webhooks/"
SIGN_IN_PATH_PREFIXES = ("/studio/sign-in", "/studio/auth/", "/review")
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
# The common rule set blocks bodies past 8 KB; webhook payloads and scripts are larger.
COUNTED_COMMON_RULES = ("SizeRestrictions_BODY",)


class PublicEntry(Construct):
    """The ALB, its listeners and web ACL, and the URLs the services announce."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        network: Network,
        context: DeployContext,
        stage: StageSettings,
    ) -> None:
        super().__init__(scope, id)
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=network.vpc,
            internet_facing=True,
            security_group=network.alb,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
            idle_timeout=Duration.seconds(ALB_IDLE_TIMEOUT_S),
        )
        self.ui_listener: elbv2.ApplicationListener | None = None
        if context.certificate_arn:
            certificates = [elbv2.ListenerCertificate.from_arn(context.certificate_arn)]
            self.public_listener = self.alb.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=certificates,
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
            )
            self.alb.add_redirect(source_port=80, target_port=443, open=False)
            self.ui_listener = self.alb.add_listener(
                "DagsterUi",
                port=WEBSERVER_PORT,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=certificates,
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
            )
        else:
            self.public_listener = self.alb.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
            )
        self.web_acl = self._web_acl(stage)
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.alb.load_balancer_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

        scheme = "https" if context.certificate_arn else "http"
        dns_name = self.alb.load_balancer_dns_name
        self.host = context.domain_name or dns_name
        self.base_url = f"{scheme}://{self.host}"
        self.ui_url = f"{scheme}://{self.host}:{WEBSERVER_PORT}" if self.ui_listener else None
        # The service answers only to these Host names (VSL_ALLOWED_HOSTS).
        self.allowed_hosts = (
            Fn.join(",", [context.domain_name, dns_name]) if context.domain_name else dns_name
        )

    def _web_acl(self, stage: StageSettings) -> wafv2.CfnWebACL:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"vsl-{stage.name}-{name}",
                sampled_requests_enabled=True,
            )

        def starts_with(prefix: str) -> wafv2.CfnWebACL.StatementProperty:
            return wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint="STARTS_WITH",
                    search_string=prefix,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            )

        def rate_rule(
            name: str, priority: int, limit: int, scope: wafv2.CfnWebACL.StatementProperty
        ) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=limit,
                        evaluation_window_sec=300,
                        scope_down_statement=scope,
                    )
                ),
                visibility_config=visibility(name),
            )

        # Replicate sends every webhook from a few addresses, each one signed (and verified by
        # the service): they are outside the per-address limit.
        not_webhooks = wafv2.CfnWebACL.StatementProperty(
            not_statement=wafv2.CfnWebACL.NotStatementProperty(
                statement=starts_with(WEBHOOK_PATH_PREFIX)
            )
        )
        sign_in = wafv2.CfnWebACL.StatementProperty(
            or_statement=wafv2.CfnWebACL.OrStatementProperty(
                statements=[starts_with(p) for p in SIGN_IN_PATH_PREFIXES]
            )
        )
        common = wafv2.CfnWebACL.RuleProperty(
            name=COMMON_RULE_SET,
            priority=2,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS",
                    name=COMMON_RULE_SET,
                    rule_action_overrides=[
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name=rule,
                            action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                        )
                        for rule in COUNTED_COMMON_RULES
                    ],
                )
            ),
            visibility_config=visibility("common"),
        )
        return wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("web-acl"),
            rules=[
                rate_rule("sign-in-per-ip", 0, stage.waf_sign_in_requests_per_5_min, sign_in),
                rate_rule("requests-per-ip", 1, stage.waf_requests_per_5_min, not_webhooks),
                common,
            ],
        )
