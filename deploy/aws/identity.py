"""Who may sign in: one Cognito user pool (people an admin invites, their email as the name), its
hosted sign-in domain, and two app clients of it, both OpenID Connect authorization code grants
with a client secret:

- the studio's (`vsl serve`, `/studio`): the service gets `VSL_OIDC_ISSUER` and
  `VSL_OIDC_CLIENT_ID` as environment and `VSL_OIDC_CLIENT_SECRET` as an ECS secret (from a
  Secrets Manager secret filled from the client at deploy time, never in the template);
- the Dagster UI's: the ALB's `authenticate-cognito` action on the UI listener
  (`services.py`), which calls back to `https://<domain>:3000/oauth2/idpresponse`.

A person signs in to the studio only if a workspace has their email as a member
(`vsl members add EMAIL ...`); the pool only proves who they are.

Both clients need HTTPS on the stack's domain: Cognito calls back to https:// URLs only
(http:// for localhost alone) and the ALB authenticates on HTTPS listeners only. Without
`certificate_arn` the pool and its domain are still made, but neither client: the studio keeps
its API-key sign-in and the Dagster UI stays behind `admin_cidr` alone (a synth warning says so).
"""

from __future__ import annotations

from aws_cdk import Annotations, Aws, Duration, Fn, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from deploy.aws.network import WEBSERVER_PORT
from deploy.aws.stages import DeployContext, StageSettings

# What the studio serves (vsl_pipelines/web/studio): the callback of its sign-in, and where its
# sign-out lands.
STUDIO_CALLBACK_PATH = "/studio/auth/callback"
STUDIO_SIGNED_OUT_PATH = "/studio"
# Where the ALB receives the provider's answer, on the listener's own host and port.
ALB_CALLBACK_PATH = "/oauth2/idpresponse"
# The studio asks for these (vsl_pipelines/web/studio/oidc.py: SCOPES).
STUDIO_SCOPES = (cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE)
# As long as a studio session (vsl_pipelines/web/studio/session.py: MAX_AGE_S).
UI_SESSION = Duration.hours(12)

_MFA = {"off": cognito.Mfa.OFF, "optional": cognito.Mfa.OPTIONAL, "required": cognito.Mfa.REQUIRED}


def default_domain_prefix(stage: str) -> str:
    """vsl-<stage>-<the first 8 hex digits of the stack id's GUID>: unique per stack (a prefix is
    global to the region, across every AWS account) and stable for the stack's life."""
    stack_guid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
    return Fn.join("-", ["vsl", stage, Fn.select(0, Fn.split("-", stack_guid))])


class SignIn(Construct):
    """The user pool, its domain, the studio's and the Dagster UI's clients, and what the
    webhook service (the studio) receives of them."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: StageSettings,
        context: DeployContext,
    ) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY
        host = context.https_host
        studio_url = f"https://{host}{STUDIO_SIGNED_OUT_PATH}" if host else None
        mfa = _MFA[context.auth_mfa]
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"vsl-{stage.name}",
            # Admins invite (admin-create-user); nobody signs themselves up.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            # A changed email takes effect only once verified: the studio matches people by it.
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True),
                fullname=cognito.StandardAttribute(required=False, mutable=True),
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=False,
                temp_password_validity=Duration.days(7),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=mfa,
            mfa_second_factor=(
                None
                if mfa == cognito.Mfa.OFF
                else cognito.MfaSecondFactor(sms=False, otp=True, email=False)
            ),
            # No SMS at all: no SNS role to create.
            enable_sms_role=False,
            # Essentials: managed sign-in pages, MFA, no per-user threat protection (Plus).
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            user_invitation=cognito.UserInvitationConfig(
                email_subject="Your VSL Pipelines account",
                email_body=(
                    "You are invited to the VSL Pipelines studio"
                    + (f" at {studio_url}" if studio_url else "")
                    + ". Sign in as {username} with the temporary password {####};"
                    " you will choose your own."
                ),
            ),
            deletion_protection=stage.retain_data,
            removal_policy=removal,
        )
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=context.auth_domain_prefix or default_domain_prefix(stage.name)
            ),
            # The newer managed login shows nothing until a branding style is made per client.
            managed_login_version=cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,
        )
        self.hosted_ui_url = self.domain.base_url()
        stack = Stack.of(self)
        # What the studio discovers `/.well-known/openid-configuration` under and what the ID
        # tokens name as `iss`.
        self.issuer = (
            f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.user_pool.user_pool_id}"
        )

        self.studio_client: cognito.UserPoolClient | None = None
        self.ui_client: cognito.UserPoolClient | None = None
        self.studio_client_secret: secretsmanager.Secret | None = None
        if host is None:
            Annotations.of(self).add_warning_v2(
                "vsl:sign-in-needs-https",
                "No certificate_arn: the Cognito user pool is made without app clients. The "
                "studio keeps its API-key sign-in, and the Dagster UI (port "
                f"{WEBSERVER_PORT}) gets no listener: reach it through an ECS Exec port "
                "forward. Set certificate_arn and domain_name for sign-in.",
            )
            return
        self.studio_client = self._client(
            "StudioClient",
            name=f"vsl-{stage.name}-studio",
            scopes=list(STUDIO_SCOPES),
            callback=f"https://{host}{STUDIO_CALLBACK_PATH}",
            logout=f"https://{host}{STUDIO_SIGNED_OUT_PATH}",
        )
        self.ui_client = self._client(
            "DagsterUiClient",
            name=f"vsl-{stage.name}-dagster-ui",
            scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
            callback=f"https://{host}:{WEBSERVER_PORT}{ALB_CALLBACK_PATH}",
            logout=None,
        )
        # CloudFormation hands out a generated client secret as the client's ClientSecret
        # attribute: the secret's value is that Fn::GetAtt, resolved at deploy time, so the
        # template holds no secret and no Lambda-backed custom resource is needed (CDK's
        # `user_pool_client_secret` would make one).
        studio = self.studio_client.node.default_child
        assert isinstance(studio, cognito.CfnUserPoolClient)
        self.studio_client_secret = secretsmanager.Secret(
            self,
            "StudioClientSecret",
            description="VSL_OIDC_CLIENT_SECRET: the studio's Cognito app client secret",
            secret_string_value=SecretValue.resource_attribute(studio.attr_client_secret),
            removal_policy=removal,
        )

    def _client(
        self,
        id: str,
        *,
        name: str,
        scopes: list[cognito.OAuthScope],
        callback: str,
        logout: str | None,
    ) -> cognito.UserPoolClient:
        """A confidential client of the hosted sign-in: code grant only (no implicit grant, no
        client credentials), a generated secret, the pool's own accounts only."""
        return self.user_pool.add_client(
            id,
            user_pool_client_name=name,
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(
                    authorization_code_grant=True,
                    implicit_code_grant=False,
                    client_credentials=False,
                ),
                scopes=scopes,
                callback_urls=[callback],
                logout_urls=[logout] if logout else None,
            ),
            # As the console makes a web app's client: SRP (it needs the secret's hash, so only
            # the server can use it) and refresh; no plain-password or custom (Lambda) flows.
            auth_flows=cognito.AuthFlow(user_srp=True),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            read_attributes=cognito.ClientAttributes().with_standard_attributes(
                email=True, email_verified=True, fullname=True
            ),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(fullname=True),
        )

    @property
    def service_environment(self) -> dict[str, str]:
        """What the webhook service (the studio) reads of its OpenID client; {} without one."""
        if self.studio_client is None:
            return {}
        return {
            "VSL_OIDC_ISSUER": self.issuer,
            "VSL_OIDC_CLIENT_ID": self.studio_client.user_pool_client_id,
        }

    @property
    def service_secrets(self) -> dict[str, ecs.Secret]:
        """The studio's client secret, as an ECS secret of the webhook service alone."""
        if self.studio_client_secret is None:
            return {}
        return {
            "VSL_OIDC_CLIENT_SECRET": ecs.Secret.from_secrets_manager(self.studio_client_secret)
        }
