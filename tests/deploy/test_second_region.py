"""The standby region (deploy/aws/region.py): `make synth`'s entry writes both regions'
templates; media replicated, the inbox and jobs tables global, a cross-region PostgreSQL
replica, DNS failover; both templates cfn-lint clean in their regions."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from deploy.aws.app import main
from deploy.aws.stages import DeployError, resolve

CONTEXT = [
    *("-c", "region=us-east-1"),
    *("-c", "dr_region=us-west-2"),
    *("-c", "certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c"),
    *("-c", "domain_name=vsl.example.com"),
    *("-c", "hosted_zone_id=Z0123456789ABC"),
    *("-c", "standby_alb_dns_name=dualstack.vsl-standby-1.us-west-2.elb.amazonaws.com"),
    *("-c", "standby_alb_zone_id=Z1H1FL5HABSF5"),
]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("regions") / "vsl.template.json"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["--stage", "prod", "--out", str(out), *CONTEXT]) == 0
    return {"primary": out, "standby": out.with_name("vsl.standby.template.json")}


def _template(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_both_regions_templates_are_written(written: dict[str, Path]) -> None:
    assert written["primary"].is_file() and written["standby"].is_file()


def test_media_replicates_to_the_standby_bucket(written: dict[str, Path]) -> None:
    primary, standby = _template(written["primary"]), _template(written["standby"])
    (bucket,) = _of(primary, "AWS::S3::Bucket")
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["ReplicationConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    destination = json.dumps(rule["Destination"]["Bucket"])
    (target,) = _of(standby, "AWS::S3::Bucket")
    assert "vsl-prod-media-standby-" in destination
    assert "vsl-prod-media-standby-" in json.dumps(target["Properties"]["BucketName"])
    assert target["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_inbox_and_jobs_are_global_tables_with_a_standby_replica(
    written: dict[str, Path],
) -> None:
    primary = _template(written["primary"])
    tables = _of(primary, "AWS::DynamoDB::GlobalTable")
    assert len(tables) == 2 and not _of(primary, "AWS::DynamoDB::Table")
    for table in tables:
        regions = {r["Region"] for r in table["Properties"]["Replicas"]}
        assert regions == {"us-east-1", "us-west-2"}
        assert table["Properties"]["StreamSpecification"]
    keys = {tuple(k["AttributeName"] for k in t["Properties"]["KeySchema"]) for t in tables}
    assert keys == {("pk", "sk"), ("jobId",)}


def test_postgres_has_a_cross_region_replica(written: dict[str, Path]) -> None:
    primary, standby = _template(written["primary"]), _template(written["standby"])
    (db,) = _of(primary, "AWS::RDS::DBInstance")
    assert db["Properties"]["DBInstanceIdentifier"] == "vsl-prod"
    (replica,) = _of(standby, "AWS::RDS::DBInstance")
    source = json.dumps(replica["Properties"]["SourceDBInstanceIdentifier"])
    assert ":rds:us-east-1:" in source and ":db:vsl-prod" in source
    assert replica["Properties"]["KmsKeyId"] == "alias/aws/rds"


def test_dns_fails_over_on_the_primarys_health(written: dict[str, Path]) -> None:
    primary, standby = _template(written["primary"]), _template(written["standby"])
    (check,) = _of(primary, "AWS::Route53::HealthCheck")
    config = check["Properties"]["HealthCheckConfig"]
    assert (config["Type"], config["ResourcePath"], config["Port"]) == ("HTTPS", "/healthz", 443)
    (first,) = _of(primary, "AWS::Route53::RecordSet")
    (second,) = _of(standby, "AWS::Route53::RecordSet")
    assert first["Properties"]["Failover"] == "PRIMARY"
    assert "HealthCheckId" in first["Properties"]
    assert second["Properties"]["Failover"] == "SECONDARY"
    assert first["Properties"]["Name"] == second["Properties"]["Name"] == "vsl.example.com"


def test_final_media_fails_over_to_the_standby_bucket_at_the_same_url(
    written: dict[str, Path],
) -> None:
    """One distribution for both regions (the URL landing pages keep never changes): an origin
    group reads the primary bucket and, when it answers 5xx, the standby's replica, both
    through the origin access control; the standby bucket lets CloudFront read its final
    objects alone. The standby region has no distribution of its own."""
    primary, standby = _template(written["primary"]), _template(written["standby"])
    (distribution,) = _of(primary, "AWS::CloudFront::Distribution")
    assert not _of(standby, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert len(origins) == 2 and all(o["OriginAccessControlId"] for o in origins.values())
    (group,) = config["OriginGroups"]["Items"]
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == group["Id"]
    assert group["FailoverCriteria"]["StatusCodes"]["Items"] == [500, 502, 503, 504]
    first, fallback = (m["OriginId"] for m in group["Members"]["Items"])
    assert origins[first]["DomainName"] == {
        "Fn::GetAtt": [_id_of(primary, "AWS::S3::Bucket"), "RegionalDomainName"]
    }
    fallback_domain = json.dumps(origins[fallback]["DomainName"])
    assert "vsl-prod-media-standby-" in fallback_domain and ".s3.us-west-2." in fallback_domain

    (policy,) = _of(standby, "AWS::S3::BucketPolicy")
    [read] = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    assert read["Effect"] == "Allow" and read["Action"] == "s3:GetObject"
    assert read["Resource"]["Fn::Join"][1][-1] == "/scripts/*/final/*"
    source = json.dumps(read["Condition"]["StringLike"]["AWS:SourceArn"])
    assert ":cloudfront::" in source and "AWS::AccountId" in source
    # Every container of the primary hands out that one distribution's URL.
    urls = {
        json.dumps(env["Value"])
        for task in _of(primary, "AWS::ECS::TaskDefinition")
        for container in task["Properties"]["ContainerDefinitions"]
        for env in container["Environment"]
        if env["Name"] == "VSL_MEDIA_CDN_URL"
    }
    (url,) = urls
    assert _id_of(primary, "AWS::CloudFront::Distribution") in url and "https://" in url


def _id_of(template: dict[str, Any], kind: str) -> str:
    (logical_id,) = [k for k, r in template["Resources"].items() if r["Type"] == kind]
    return logical_id


def test_both_templates_pass_cfn_lint_in_their_regions(written: dict[str, Path]) -> None:
    for which, region in (("primary", "us-east-1"), ("standby", "us-west-2")):
        matches = lint_file(
            written[which], config=ManualArgs(ignore_checks=["W3005"], regions=[region])
        )
        assert not matches, f"{which}: " + "\n".join(str(m) for m in matches)


def test_the_standby_region_is_another_region() -> None:
    with pytest.raises(DeployError, match="dr_region"):
        resolve({"dr_region": "us-east-1"})
    assert resolve({"dr_region": "none"})[0].dr_region is None
