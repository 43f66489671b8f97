"""The final videos and their delivery files served to landing pages through CloudFront: a
distribution over the media bucket that may read only the `final/` objects of each script.

The bucket stays private; the distribution reads it with an origin access control, and the
bucket policy lets it read `scripts/*/final/*` alone (takes, previews and one-off generations
stay behind presigned URLs). Final objects are stored with a year of immutable caching
(`storage.base.cache_control`), so the edge keeps them; players on other sites read HLS
playlists and caption tracks by CORS, whose headers the distribution adds. No fixed monthly
cost: CloudFront bills requests and bytes served, at the cheapest price class.
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


class FinalMediaDistribution(Construct):
    """CloudFront in front of the bucket's final objects (see the module docstring)."""

    def __init__(self, scope: Construct, id: str, *, bucket: s3.IBucket, stage: str) -> None:
        super().__init__(scope, id)
        access = cloudfront.S3OriginAccessControl(
            self, "OriginAccess", description=f"vsl {stage}: final media"
        )
        origin = origins.S3BucketOrigin.with_bucket_defaults(
            bucket, origin_access_control_id=access.origin_access_control_id
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
