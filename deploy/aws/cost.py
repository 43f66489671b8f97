"""`make cost`: each profile's monthly AWS estimate, read from its synthesized template and the
price table beside this file (deploy/aws/prices.json, cited and dated), idle and at 1,000
generations a day. Ends with one JSON line: {"PROFILE": {"idle_usd_month": N,
"loaded_usd_month": N}, ...}.

What is counted comes from the template (NAT gateways, the ALB and its public addresses, the WAF
web ACL and its rules, every ECS service's task size, architecture and count, public task
addresses, the RDS class, Multi-AZ and storage, Redis nodes, secrets, KMS keys, alarms,
dashboards, private DNS zones, health checks, interface endpoints); what the load adds comes
from `LOAD` below (runs, media, requests, logs). Replicate's own bill is not AWS's and is left
out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("prices.json")
# Every profile's context: staging and prod synthesize only with HTTPS.
HTTPS = {
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000",
    "domain_name": "vsl.example.com",
}
PROFILES: dict[str, dict[str, Any]] = {
    "small": {"stage": "small"},
    "dev": {"stage": "dev"},
    "staging": {"stage": "staging", **HTTPS},
    "prod": {"stage": "prod", **HTTPS},
}


@dataclass(frozen=True)
class Load:
    """What 1,000 generations a day (one generation: one Replicate prediction) ask of AWS.

    Runs per generation: 8 Dagster runs for the narrated sample's 10 predictions
    (docs/DEPLOYMENT.md, `make test-deploy`). Minutes billed per run task: Fargate bills from
    the image pull (about a minute for this image) to the end. Media: a take, its keyframe or
    voice, previews: about 3 MB a generation, kept a month (lifecycle rules move or expire it
    after). Webhooks: one per prediction (`completed` only). Studio and API: people and
    integrators, about 100 requests a generation. Logs: 20 KB a generation, 1 GB a month idle.
    """

    generations_per_day: float = 1000
    runs_per_generation: float = 0.8
    run_task_minutes: float = 3.0
    media_mb_per_generation: float = 3.0
    s3_puts_per_generation: float = 3
    s3_gets_per_generation: float = 10
    http_requests_per_generation: float = 100
    dynamodb_writes_per_generation: float = 7
    dynamodb_reads_per_generation: float = 5
    internet_mb_in_per_generation: float = 5.0  # outputs downloaded from Replicate
    log_kb_per_generation: float = 20
    idle_log_gb_month: float = 1.0
    days_per_month: float = 30.4


LOAD = Load()


@dataclass
class Estimate:
    lines: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, usd: float) -> None:
        if usd:
            self.lines[what] = self.lines.get(what, 0.0) + usd

    @property
    def total(self) -> float:
        return sum(self.lines.values())


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: r.get("Properties", {})
        for logical_id, r in template["Resources"].items()
        if r["Type"] == kind
    }


def _fargate_hour(
    prices: Mapping[str, Any], cpu: int, memory_mib: int, arch: str, spot: bool
) -> float:
    rate = prices["fargate"][arch]
    hour = cpu / 1024 * rate["vcpu_hour"] + memory_mib / 1024 * rate["gb_hour"]
    return hour * (1 - prices["fargate"]["spot_discount"]) if spot else hour


def _arch(definition: Mapping[str, Any]) -> str:
    platform = definition.get("RuntimePlatform") or {}
    return "arm64" if platform.get("CpuArchitecture") == "ARM64" else "x86_64"


def _env(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {
        e["Name"]: e["Value"]
        for c in definition["ContainerDefinitions"]
        for e in c.get("Environment", [])
    }


def estimate(
    template: Mapping[str, Any], prices: Mapping[str, Any], *, loaded: bool, load: Load = LOAD
) -> Estimate:
    """The monthly cost of one template, idle or under `load`."""
    hours = prices["hours_per_month"]
    out = Estimate()
    definitions = _resources(template, "AWS::ECS::TaskDefinition")
    scalable = {
        json.dumps(p["ResourceId"]): p["MinCapacity"]
        for p in _resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    }
    ipv4 = prices["public_ipv4_hour"] * hours

    for service_id, service in _resources(template, "AWS::ECS::Service").items():
        definition = definitions[service["TaskDefinition"]["Ref"]]
        count = service.get("DesiredCount")
        if count is None:  # left to autoscaling: its minimum
            count = next((v for k, v in scalable.items() if service_id in k), 1)
        family = definition["Family"]
        hour = _fargate_hour(
            prices, int(definition["Cpu"]), int(definition["Memory"]), _arch(definition), False
        )
        out.add(f"Fargate {family} x{count}", hour * hours * count)
        network = service.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        if network.get("AssignPublicIp") == "ENABLED":
            out.add("public IPv4 (tasks)", ipv4 * count)

    nat = len(_resources(template, "AWS::EC2::NatGateway"))
    out.add("NAT gateways", nat * prices["nat_gateway"]["hour"] * hours)
    out.add("public IPv4 (NAT)", nat * ipv4)
    albs = len(_resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    out.add("ALB", albs * prices["alb"]["hour"] * hours)
    out.add("public IPv4 (ALB, one per zone)", albs * 2 * ipv4)
    for acl in _resources(template, "AWS::WAFv2::WebACL").values():
        out.add("WAF web ACL", prices["waf"]["web_acl_month"])
        out.add("WAF rules", len(acl.get("Rules", [])) * prices["waf"]["rule_month"])
    endpoints = [
        e
        for e in _resources(template, "AWS::EC2::VPCEndpoint").values()
        if e.get("VpcEndpointType") == "Interface"
    ]
    out.add(
        "VPC interface endpoints",
        sum(len(e.get("SubnetIds", [])) for e in endpoints)
        * prices["vpc_interface_endpoint_az_hour"]
        * hours,
    )

    for db in _resources(template, "AWS::RDS::DBInstance").values():
        rate = prices["rds_postgres_hour"][db["DBInstanceClass"]]
        factor = prices["rds_multi_az_factor"] if db.get("MultiAZ") else 1
        out.add(f"RDS {db['DBInstanceClass']}", rate * factor * hours)
        storage = int(db.get("AllocatedStorage") or 20)
        out.add("RDS storage (gp3)", storage * prices["rds_gp3_gb_month"] * factor)
    for redis in _resources(template, "AWS::ElastiCache::ReplicationGroup").values():
        nodes = int(redis.get("NumCacheClusters", 1))
        rate = prices["elasticache_node_hour"][redis["CacheNodeType"]]
        out.add(f"Redis {redis['CacheNodeType']} x{nodes}", rate * nodes * hours)

    out.add(
        "Secrets Manager",
        len(_resources(template, "AWS::SecretsManager::Secret")) * prices["secret_month"],
    )
    out.add("KMS keys", len(_resources(template, "AWS::KMS::Key")) * prices["kms_key_month"])
    cw = prices["cloudwatch"]
    out.add(
        "CloudWatch alarms", len(_resources(template, "AWS::CloudWatch::Alarm")) * cw["alarm_month"]
    )
    out.add(
        "CloudWatch dashboards",
        len(_resources(template, "AWS::CloudWatch::Dashboard")) * cw["dashboard_month"],
    )
    zones = len(_resources(template, "AWS::ServiceDiscovery::PrivateDnsNamespace")) + len(
        _resources(template, "AWS::Route53::HostedZone")
    )
    out.add("Route 53 zones", zones * prices["route53"]["hosted_zone_month"])
    out.add(
        "Route 53 health checks",
        len(_resources(template, "AWS::Route53::HealthCheck"))
        * prices["route53"]["health_check_month"],
    )
    out.add("ECR storage (one 1 GB image)", prices["ecr_gb_month"])
    out.add("CloudWatch Logs", load.idle_log_gb_month * cw["logs_ingest_gb"])
    if not loaded:
        return out

    per_month = load.generations_per_day * load.days_per_month
    runs = [d for d in definitions.values() if d["Family"].endswith("-run")]
    for run in runs:
        env = _env(run)
        spot = env.get("DAGSTER_RUN_CAPACITY") == "FARGATE_SPOT"
        task_hours = per_month * load.runs_per_generation * load.run_task_minutes / 60
        hour = _fargate_hour(prices, int(run["Cpu"]), int(run["Memory"]), _arch(run), spot)
        extra_gb = max(0, (run.get("EphemeralStorage") or {}).get("SizeInGiB", 20) - 20)
        hour += extra_gb * prices["fargate"]["ephemeral_gb_hour_over_20"]
        out.add("Fargate run tasks" + (" (Spot)" if spot else ""), hour * task_hours)
        if env.get("DAGSTER_RUN_PUBLIC_IP") == "ENABLED":
            out.add("public IPv4 (run tasks)", task_hours * prices["public_ipv4_hour"])
    # Image layers come from S3 (the gateway endpoint): through NAT go Replicate's outputs.
    if nat:
        gb_in = per_month * load.internet_mb_in_per_generation / 1024
        out.add("NAT data (Replicate outputs)", gb_in * prices["nat_gateway"]["gb"])
    s3 = prices["s3"]
    out.add(
        "S3 media (a month kept)",
        per_month * load.media_mb_per_generation / 1024 * s3["standard_gb_month"],
    )
    out.add(
        "S3 requests",
        per_month
        * (
            load.s3_puts_per_generation * s3["put_per_1000"]
            + load.s3_gets_per_generation * s3["get_per_1000"]
        )
        / 1000,
    )
    ddb = prices["dynamodb"]
    out.add(
        "DynamoDB requests",
        per_month
        * (
            load.dynamodb_writes_per_generation * ddb["million_writes"]
            + load.dynamodb_reads_per_generation * ddb["million_reads"]
        )
        / 1e6,
    )
    requests = per_month * load.http_requests_per_generation
    if albs:
        # A few requests a second is well under one LCU: count 0.05 LCU on average.
        out.add("ALB LCUs", 0.05 * prices["alb"]["lcu_hour"] * hours)
    if _resources(template, "AWS::WAFv2::WebACL"):
        out.add("WAF requests", requests / 1e6 * prices["waf"]["million_requests"])
    out.add(
        "CloudWatch Logs (load)",
        per_month * load.log_kb_per_generation / 1024**2 * cw["logs_ingest_gb"],
    )
    return out


def synthesize(context: Mapping[str, Any]) -> dict[str, Any]:
    from deploy.aws.app import synthesize as synth

    return synth(context)


def report(
    profiles: Mapping[str, Mapping[str, Any]], prices: Mapping[str, Any], out: Any = None
) -> dict[str, dict[str, float]]:
    out = out or sys.stdout
    summary: dict[str, dict[str, float]] = {}
    for name, context in profiles.items():
        template = synthesize(context)
        idle = estimate(template, prices, loaded=False)
        loaded = estimate(template, prices, loaded=True)
        print(
            f"\n== {name}: ${idle.total:,.2f} idle, ${loaded.total:,.2f} a month at "
            f"{LOAD.generations_per_day:,.0f} generations a day",
            file=out,
        )
        for what, usd in sorted(loaded.lines.items(), key=lambda kv: -kv[1]):
            idle_usd = idle.lines.get(what, 0.0)
            print(f"  {what:<44} {idle_usd:>9.2f} {usd:>9.2f}", file=out)
        summary[name] = {
            "idle_usd_month": round(idle.total, 2),
            "loaded_usd_month": round(loaded.total, 2),
        }
    print(
        f"\nPrices: {PRICES.name}, {prices['region']}, collected {prices['collected']} "
        "(sources and dates in the file)",
        file=out,
    )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("profiles", nargs="*", help=f"default: {' '.join(PROFILES)}")
    args = parser.parse_args(argv)
    prices = json.loads(args.prices.read_text())
    chosen = {p: PROFILES[p] for p in (args.profiles or PROFILES)}
    summary = report(chosen, prices)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
