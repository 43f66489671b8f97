"""The public entry: one internet-facing ALB with two listeners.

- 80 (or 443 with a certificate, 80 then redirecting): every path goes to the webhook service
  (`/webhooks/*`, `/api/*`, `/media/*`, `/review*`, `/healthz`, `/metrics`), so the default
  action is the service itself.
- 3000: the Dagster UI, which has no login of its own. Its security group rule admits only the
  `admin_cidr` context value; without one nobody reaches it (use an SSM port forward instead).
  Over HTTPS the listener also signs people in with Cognito before forwarding (its actions are
  set in services.py, beside the webserver's target group; the pool is identity.py's).
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from deploy.aws.network import WEBSERVER_PORT, Network
from deploy.aws.stages import DeployContext


class PublicEntry(Construct):
    """The ALB, its listeners, and the URLs the services announce."""

    def __init__(
        self, scope: Construct, id: str, *, network: Network, context: DeployContext
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
        )
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
            ui_protocol = elbv2.ApplicationProtocol.HTTPS
        else:
            certificates = None
            self.public_listener = self.alb.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
            )
            ui_protocol = elbv2.ApplicationProtocol.HTTP
        self.ui_listener = self.alb.add_listener(
            "DagsterUi",
            port=WEBSERVER_PORT,
            protocol=ui_protocol,
            certificates=certificates,
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS if certificates else None,
            open=False,
        )

        scheme = "https" if context.certificate_arn else "http"
        dns_name = self.alb.load_balancer_dns_name
        self.host = context.domain_name or dns_name
        self.base_url = f"{scheme}://{self.host}"
        self.ui_url = f"{scheme}://{self.host}:{WEBSERVER_PORT}"
        # The service answers only to these Host names (VSL_ALLOWED_HOSTS).
        self.allowed_hosts = (
            Fn.join(",", [context.domain_name, dns_name]) if context.domain_name else dns_name
        )
