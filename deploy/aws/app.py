"""Entry of the CDK app: `python -m deploy.aws.app --stage prod` writes the CloudFormation template
(build/cloudformation/vsl.template.json) without AWS credentials; `cdk deploy -c stage=prod`
runs this same file through cdk.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python app.py`, as cdk.json runs it from deploy/aws
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aws_cdk import App, Environment

from deploy.aws.region import StandbyRegion
from deploy.aws.stack import VslStack
from deploy.aws.stages import DeployError, resolve

DEFAULT_TEMPLATE = Path("build/cloudformation/vsl.template.json")
# With a second region the primary names its region (global tables, the replica's source).
DEFAULT_PRIMARY_REGION = "us-east-1"


def stack_name(stage: str) -> str:
    return f"vsl-{stage}"


def standby_stack_name(stage: str) -> str:
    return f"vsl-{stage}-standby"


def build_app(context: Mapping[str, Any], outdir: str | None = None) -> tuple[App, VslStack]:
    """The App and its stacks, from CDK context (`stage`, a stage of the stages file, and the
    values in stages.py): the stage's stack and, with `dr_region`, its standby region's."""
    app = App(context=dict(context), outdir=outdir)
    deploy, stage = resolve(app.node.get_all_context())
    region = deploy.region or (DEFAULT_PRIMARY_REGION if deploy.dr_region else None)
    env = Environment(region=region) if region else None
    stack = VslStack(app, stack_name(stage.name), stage=stage, context=deploy, env=env)
    if deploy.dr_region and region:
        StandbyRegion(
            app,
            standby_stack_name(stage.name),
            stage=stage,
            context=deploy,
            primary_region=region,
            env=Environment(region=deploy.dr_region),
        )
    return app, stack


def synthesize_all(context: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every stack's template by stack name (the primary first), and the synth's warnings."""
    with tempfile.TemporaryDirectory(prefix="vsl-cdk-") as outdir:
        app, stack = build_app(context, outdir)
        assembly = app.synth()
        templates = {
            artifact.stack_name: artifact.template
            for artifact in sorted(assembly.stacks, key=lambda a: a.stack_name != stack.stack_name)
        }
        warnings = _warnings(Path(assembly.directory), stack.artifact_id)
    return templates, warnings


def synthesize(context: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's CloudFormation template, synthesized in this process (no CLI, no account)."""
    template, _ = synthesize_with_warnings(context)
    return template


def synthesize_with_warnings(context: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The template and the synth's warnings ("path: message"), which the cdk CLI would print."""
    with tempfile.TemporaryDirectory(prefix="vsl-cdk-") as outdir:
        app, stack = build_app(context, outdir)
        assembly = app.synth()
        template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
        warnings = _warnings(Path(assembly.directory), stack.artifact_id)
    return template, warnings


def _warnings(assembly_dir: Path, artifact_id: str) -> list[str]:
    """Warnings recorded in the cloud assembly for one stack (inline in the manifest, or in the
    stack's metadata file, depending on the CDK version)."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    artifact = manifest["artifacts"][artifact_id]
    metadata = artifact.get("metadata") or {}
    if "additionalMetadataFile" in artifact:
        metadata = json.loads((assembly_dir / artifact["additionalMetadataFile"]).read_text())
    return [
        f"{path}: {entry['data']}"
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == "aws:cdk:warning"
    ]


def _context_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Sequence[str] | None = None) -> int:
    if "CDK_OUTDIR" in os.environ:  # run by the cdk CLI: context and outdir come from it
        try:
            app, _ = build_app({})
        except DeployError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        app.synth()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stage",
        default="dev",
        help="a stage of the stages file, deploy/aws/stages.toml unless -c stages_file=PATH "
        "(dev, staging, prod, small, homolog; default: dev)",
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        type=_context_pair,
        default=[],
        metavar="KEY=VALUE",
        help="a CDK context value, e.g. -c image=... -c admin_cidr=203.0.113.0/24",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_TEMPLATE, help="template path")
    args = parser.parse_args(argv)
    try:
        templates, warnings = synthesize_all({**dict(args.context), "stage": args.stage})
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # The primary at --out, a standby region's beside it (vsl.standby.template.json).
    for index, (name, template) in enumerate(templates.items()):
        path = args.out if index == 0 else standby_path(args.out)
        path.write_text(json.dumps(template, indent=1, sort_keys=True) + "\n")
        print(f"{path} ({len(template['Resources'])} resources, stack {name})")
    return 0


def standby_path(primary: Path) -> Path:
    """Where the standby region's template goes, beside the primary's."""
    stem = primary.name.removesuffix(".template.json")
    return primary.with_name(f"{stem}.standby.template.json")


if __name__ == "__main__":
    sys.exit(main())
