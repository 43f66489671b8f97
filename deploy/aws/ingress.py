"""The public entry: one internet-facing ALB, its WAF web ACL, and up to two listeners.

- 443 with a certificate (80 redirecting), else 80 (dev alone: staging and prod refuse to
  synthesize without one): every path goes to the webhook service (`/webhooks/*`, `/api/*`,
  `/media/*`, `/review*`, `/studio*`, `/healthz`, `/metrics`).
- 3000, only with a certificate: the Dagster UI, which has no login of its own, behind the
  ALB's Cognito sign-in (its actions are set in services.py, beside the webserver's target
  group) and reachable from `admin_cidr` alone. Without a certificate there is no UI listener:
  the UI is reached through an ECS Exec port forward (docs/DEPLOYMENT.md).

The web ACL (AWS WAF, regional) limits each client address and applies AWS's managed common
rule set; request bodies over its 8 KB inspection limit (webhook payloads, scripts) are counted,
not blocked. The limits per address, each over 5 minutes:
- the sign-in paths: tight (people sign in a few times a day);
- the public landing-page player (`/watch/{cut}`, `/watch/s/{link}`, the cut's HLS files, the
  scripts and styles under `/studio/static/`): a limit of its own, high, since a busy page's viewers behind one address (a carrier's NAT,
  an office) each fetch tens of segments;
- its event posts (`/api/events`, signed per cut and limited by the service too): a limit of
  their own, and a body over the service's bound is blocked here, before the service;
- every other path but the signed webhooks (Replicate sends them from a few addresses): the
  general limit, which the player's traffic does not use up.
"""

from __future__ import annotations

from aws_cdk import Duration, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from deploy.aws.network import WEBSERVER_PORT, Network
from deploy.aws.stages import DeployContext, StageSettings
from vsl_pipelines.web.limits import EVENT_BODY_LIMIT

# The ALB closes idle connections after this; the service keeps them longer (services.py).
ALB_IDLE_TIMEOUT_S = 60
WEBHOOK_PATH_PREFIX = "/webhooks/"
SIGN_IN_PATH_PREFIXES = ("/studio/sign-in", "/studio/auth/", "/review")
# The landing-page player's pages and files with the scripts and styles they load, and its
# event posts (web/watch.py, templates/watch.html, api/events.py).
PLAYER_PATH_PREFIXES = ("/watch/", "/studio/static/")
EVENTS_PATH_PREFIX = "/api/events"
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

        def any_of(*prefixes: str) -> wafv2.CfnWebACL.StatementProperty:
            return wafv2.CfnWebACL.StatementProperty(
                or_statement=wafv2.CfnWebACL.OrStatementProperty(
                    statements=[starts_with(p) for p in prefixes]
                )
            )

        # Replicate sends every webhook from a few addresses, each one signed (and verified by
        # the service): they are outside the per-address limit; the player's paths have their
        # own, so a busy landing page does not use up its viewers' addresses' general one.
        general = wafv2.CfnWebACL.StatementProperty(
            not_statement=wafv2.CfnWebACL.NotStatementProperty(
                statement=any_of(WEBHOOK_PATH_PREFIX, *PLAYER_PATH_PREFIXES, EVENTS_PATH_PREFIX)
            )
        )
        # An event is a few hundred bytes; a larger body (or one past what WAF inspects) is
        # refused here, as the service would (413), without reaching it.
        oversized_event = wafv2.CfnWebACL.RuleProperty(
            name="event-body-size",
            priority=1,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                and_statement=wafv2.CfnWebACL.AndStatementProperty(
                    statements=[
                        starts_with(EVENTS_PATH_PREFIX),
                        wafv2.CfnWebACL.StatementProperty(
                            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                                ),
                                comparison_operator="GT",
                                size=EVENT_BODY_LIMIT,
                                text_transformations=[
                                    wafv2.CfnWebACL.TextTransformationProperty(
                                        priority=0, type="NONE"
                                    )
                                ],
                            )
                        ),
                    ]
                )
            ),
            visibility_config=visibility("event-body-size"),
        )
        common = wafv2.CfnWebACL.RuleProperty(
            name=COMMON_RULE_SET,
            priority=5,
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
                rate_rule(
                    "sign-in-per-ip",
                    0,
                    stage.waf_sign_in_requests_per_5_min,
                    any_of(*SIGN_IN_PATH_PREFIXES),
                ),
                oversized_event,
                rate_rule(
                    "events-per-ip",
                    2,
                    stage.waf_events_per_5_min,
                    starts_with(EVENTS_PATH_PREFIX),
                ),
                rate_rule(
                    "watch-per-ip",
                    3,
                    stage.waf_watch_requests_per_5_min,
                    any_of(*PLAYER_PATH_PREFIXES),
                ),
                rate_rule("requests-per-ip", 4, stage.waf_requests_per_5_min, general),
                common,
            ],
        )
