"""The final videos and their delivery files served to landing pages through CloudFront: a
distribution over the media bucket that may read only the `final/` objects of each script.

The bucket stays private; the distribution reads it with an origin access control, and the
bucket policy lets it read `scripts/*/final/*` alone (takes, previews and one-off generations
stay behind presigned URLs). Final objects are stored with a year of immutable caching
(`storage.base.cache_control`), so the edge keeps them; players on other sites read HLS
playlists and caption tracks by CORS, whose headers the distribution adds. No fixed monthly
cost: CloudFront bills requests and bytes served, at the cheapest price class.

The services hand out `{url}/{key}` for those objects (`VSL_MEDIA_CDN_URL`, services.py), and
landing pages keep the URLs, so they must outlive a failover: with a standby region the one
distribution reads through an origin group, the primary bucket first and, when it answers 5xx
or not at all, the standby's replica (region.py lets this account's distributions read its
final objects). A distribution of the standby's own would have another domain, which no page
holds (docs/ARCHITECTURE.md, Storage).
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deploy.aws.data import SCRIPT_MEDIA_PREFIX

FINAL_OBJECTS = f"{SCRIPT_MEDIA_PREFIX}*/final/*"
# What an origin answers when its region is in trouble; a 403/404 (not replicated yet, or never
# there) is the same on both sides, so it is not retried at the standby.
FAILOVER_STATUS_CODES = [500, 502, 503, 504]


class FinalMediaDistribution(Construct):
    """CloudFront in front of the bucket's final objects (see the module docstring)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket,
        stage: str,
        standby_bucket: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, id)
        access = cloudfront.S3OriginAccessControl(
            self, "OriginAccess", description=f"vsl {stage}: final media"
        )

        def read(source: s3.IBucket) -> cloudfront.IOrigin:
            return origins.S3BucketOrigin.with_bucket_defaults(
                source, origin_access_control_id=access.origin_access_control_id
            )

        origin = read(bucket)
        if standby_bucket is not None:
            origin = origins.OriginGroup(
                primary_origin=origin,
                fallback_origin=read(standby_bucket),
                fallback_status_codes=FAILOVER_STATUS_CODES,
            )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"vsl {stage}: final videos and delivery files",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS,
                compress=True,
            ),
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudFrontReadsFinalMedia",
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(FINAL_OBJECTS)],
                conditions={
                    "StringEquals": {
                        "AWS:SourceArn": (
                            f"arn:{Aws.PARTITION}:cloudfront::{Aws.ACCOUNT_ID}:distribution/"
                            f"{self.distribution.distribution_id}"
                        )
                    }
                },
            )
        )

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"
