"""Stages from a stages file (deploy/aws/stages.toml, or `-c stages_file=PATH`): any name, based on
a built-in profile with sizes of its own; the shipped `homolog` synthesized and linted; the errors
name the file. And `-c ssm_prefix=/vsl/`: who may read the SSM parameters, and who reads them."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint_file

from deploy.aws.app import main
from deploy.aws.stages import STAGES, STAGES_FILE, DeployError, load_stages, resolve

DOMAIN = "vsl.example.com"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c"
HTTPS = {"certificate_arn": CERTIFICATE, "domain_name": DOMAIN}
HTTPS_CONTEXT = [*("-c", f"certificate_arn={CERTIFICATE}"), *("-c", f"domain_name={DOMAIN}")]
# As test_template_passes_cfn_lint in test_aws_stack.py.
LINT = ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"])
CUSTOM = """
# A team's own stages.
[qa]
profile = "dev"
webhook_max_tasks = 9
log_retention_days = 14
run_capacity = "FARGATE_SPOT"

[edge-2]
profile = "prod"
"""
SSM_PREFIX = "/vsl/"
# The containers that use the Replicate token, and those that do not.
TOKEN_USERS = ("webhook", "code-server", "run")
NO_TOKEN = ("webserver", "daemon")


def _synth(out: Path, stage: str, context: list[str]) -> Path:
    path = out / f"{stage}.template.json"
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        code = main(["--stage", stage, "--out", str(path), *context])
    assert code == 0, stderr.getvalue()
    return path


@pytest.fixture(scope="module")
def custom_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stages") / "team-stages.toml"
    path.write_text(CUSTOM)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, custom_file: Path) -> dict[str, Path]:
    """homolog from the shipped file (HTTPS, as it needs), and qa from a custom file with an
    SSM prefix, written by `make synth`'s entry."""
    out = tmp_path_factory.mktemp("cloudformation")
    return {
        "homolog": _synth(out, "homolog", HTTPS_CONTEXT),
        "qa": _synth(
            out, "qa", ["-c", f"stages_file={custom_file}", "-c", f"ssm_prefix={SSM_PREFIX}"]
        ),
    }


@pytest.fixture(scope="module")
def homolog(written: dict[str, Path]) -> Template:
    return Template.from_json(json.loads(written["homolog"].read_text()))


@pytest.fixture(scope="module")
def qa(written: dict[str, Path]) -> Template:
    return Template.from_json(json.loads(written["qa"].read_text()))


def _resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.find_resources(kind)
    return found


def _task_definitions(template: Template, stage: str) -> dict[str, dict[str, Any]]:
    """Task definition properties by role (the family is vsl-<stage>-<role>)."""
    families = {
        r["Properties"]["Family"]: r["Properties"]
        for r in _resources(template, "AWS::ECS::TaskDefinition").values()
    }
    assert all(f.startswith(f"vsl-{stage}-") for f in families), sorted(families)
    return {f.removeprefix(f"vsl-{stage}-"): props for f, props in families.items()}


def _containers(template: Template, stage: str) -> dict[str, dict[str, Any]]:
    return {
        c["Name"]: c
        for props in _task_definitions(template, stage).values()
        for c in props["ContainerDefinitions"]
    }


def _task_role_actions(template: Template, stage: str) -> dict[str, dict[str, list[Any]]]:
    """For each task definition's role: action -> the resources granted it."""
    policies = _resources(template, "AWS::IAM::Policy").values()
    granted: dict[str, dict[str, list[Any]]] = {}
    for role, props in _task_definitions(template, stage).items():
        role_id = props["TaskRoleArn"]["Fn::GetAtt"][0]
        actions = granted.setdefault(role, {})
        for policy in policies:
            if {"Ref": role_id} not in policy["Properties"]["Roles"]:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                for action in _as_list(statement["Action"]):
                    actions.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return granted


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the shipped file --------------------------------------------------------------------------


def test_the_shipped_file_names_the_profiles_and_homolog() -> None:
    stages = load_stages(STAGES_FILE)
    assert list(stages) == ["dev", "staging", "prod", "small", "homolog"]
    for name, profile in STAGES.items():  # each profile under its own name, unchanged
        assert stages[name] == profile
    homolog = stages["homolog"]
    assert homolog.name == "homolog"
    assert homolog.model_dump(exclude={"name"}) == STAGES["staging"].model_dump(exclude={"name"})


def test_homolog_inherits_staging_s_refusal_without_https(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for context in ({"stage": "homolog"}, {"stage": "homolog", "domain_name": DOMAIN}):
        with pytest.raises(DeployError, match="stage 'homolog' needs certificate_arn"):
            resolve(context)
    assert main(["--stage", "homolog", "--out", "/dev/null"]) == 2
    assert "stage 'homolog' needs certificate_arn and domain_name" in capsys.readouterr().err
    _, stage = resolve({"stage": "homolog", **HTTPS, "webhook_max_tasks": "8"})
    assert stage.name == "homolog" and stage.webhook_max_tasks == 8  # context still overrides


def test_homolog_template_is_staging_s_shape_under_its_own_name(
    homolog: Template, written: dict[str, Path]
) -> None:
    staging = STAGES["staging"]
    assert set(_task_definitions(homolog, "homolog")) == {
        "setup",
        "run",
        "code-server",
        "webserver",
        "daemon",
        "webhook",
    }
    text = written["homolog"].read_text()
    assert "staging" not in text  # no resource, tag or description takes the profile's name
    (pool,) = _resources(homolog, "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["UserPoolName"] == "vsl-homolog"
    clients = _resources(homolog, "AWS::Cognito::UserPoolClient").values()
    assert {c["Properties"]["ClientName"] for c in clients} == {
        "vsl-homolog-studio",
        "vsl-homolog-dagster-ui",
    }
    (db,) = _resources(homolog, "AWS::RDS::DBInstance").values()
    assert db["Properties"]["DBInstanceClass"] == f"db.{staging.db_instance_class}"
    assert db["Properties"]["MultiAZ"] is staging.db_multi_az
    (target,) = _resources(homolog, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Properties"]["MaxCapacity"] == staging.webhook_max_tasks
    groups = _resources(homolog, "AWS::Logs::LogGroup").values()
    assert {g["Properties"]["RetentionInDays"] for g in groups} == {staging.log_retention_days}
    assert pool["Properties"]["UserPoolTags"]["stage"] == "homolog"  # the stack's tag
    # HTTPS on 443, as staging's.
    listeners = _resources(homolog, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert 443 in {listener["Properties"]["Port"] for listener in listeners}


def test_the_templates_pass_cfn_lint(written: dict[str, Path]) -> None:
    for stage, path in written.items():
        matches = lint_file(path, config=LINT)
        assert not matches, f"{stage}: " + "\n".join(str(m) for m in matches)


# -- an operator's own file --------------------------------------------------------------------


def test_a_custom_file_gives_its_stages_with_their_sizes(custom_file: Path) -> None:
    _, qa = resolve({"stage": "qa", "stages_file": str(custom_file)})
    assert qa.name == "qa"
    assert (qa.webhook_max_tasks, qa.log_retention_days) == (9, 14)
    assert qa.run_capacity == "FARGATE_SPOT"
    assert qa.db_instance_class == STAGES["dev"].db_instance_class  # the rest is dev's
    # Context values override the file's sizes.
    _, qa = resolve({"stage": "qa", "stages_file": str(custom_file), "webhook_max_tasks": "12"})
    assert qa.webhook_max_tasks == 12
    # edge-2 is prod-like: HTTPS or nothing.
    with pytest.raises(DeployError, match="stage 'edge-2' needs certificate_arn"):
        resolve({"stage": "edge-2", "stages_file": str(custom_file)})
    _, edge = resolve({"stage": "edge-2", "stages_file": str(custom_file), **HTTPS})
    assert edge.retain_data is True and edge.name == "edge-2"
    # The file replaces the shipped one: its stages alone.
    with pytest.raises(DeployError) as raised:
        resolve({"stage": "dev", "stages_file": str(custom_file)})
    assert str(raised.value) == (
        f"unknown stage 'dev' (context value `stage`): {custom_file} names qa, edge-2"
    )


def test_a_custom_stage_synthesizes_under_its_name(qa: Template) -> None:
    (target,) = _resources(qa, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Properties"]["MaxCapacity"] == 9
    groups = _resources(qa, "AWS::Logs::LogGroup").values()
    assert {g["Properties"]["RetentionInDays"] for g in groups} == {14}
    (providers,) = _resources(qa, "AWS::ECS::ClusterCapacityProviderAssociations").values()
    assert "FARGATE_SPOT" in providers["Properties"]["CapacityProviders"]
    daemon = _containers(qa, "qa")["daemon"]
    env = {e["Name"]: e["Value"] for e in daemon["Environment"]}
    assert env["DAGSTER_RUN_CAPACITY"] == "FARGATE_SPOT"
    (pool,) = _resources(qa, "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["UserPoolName"] == "vsl-qa"


# -- errors ------------------------------------------------------------------------------------


def test_an_unknown_stage_names_the_file_and_its_stages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(DeployError) as raised:
        resolve({"stage": "qa"})
    assert str(raised.value) == (
        f"unknown stage 'qa' (context value `stage`): {STAGES_FILE} names "
        "dev, staging, prod, small, homolog"
    )
    assert main(["--stage", "qa", "--out", "/dev/null"]) == 2
    assert f"unknown stage 'qa' (context value `stage`): {STAGES_FILE}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", r"names no stage"),
        ("[qa\nprofile = 'dev'", r"not TOML"),
        ("qa = 'dev'", r"stage 'qa': expected a table"),
        ("[QA]\nprofile = 'dev'", r"stage 'QA': a stage name is lower-case letters"),
        ("[qa--1]\nprofile = 'dev'", r"stage 'qa--1': a stage name"),
        ("[qa-]\nprofile = 'dev'", r"stage 'qa-': a stage name"),
        (f"[{'q' * 21}]\nprofile = 'dev'", r"a stage name .* at most 20 characters"),
        ("[qa]\nwebhook_max_tasks = 3", r"stage 'qa': `profile` must be one of .*got None"),
        ("[qa]\nprofile = 'homolog'", r"`profile` must be one of dev, staging, prod, small"),
        ("[qa]\nprofile = ['dev']", r"`profile` must be one of .*got \['dev'\]"),
        ('["qa\\n"]\nprofile = "dev"', r"a stage name"),
        ("[qa]\nprofile = 'dev'\nwebhok_max_tasks = 3", r"not a size of a stage: webhok_max"),
        ("[qa]\nprofile = 'dev'\nname = 'prod'", r"stage 'qa': not a size of a stage: name"),
        (
            "[qa]\nprofile = 'dev'\nwebhook_max_tasks = 1",
            r"stage 'qa' \(profile dev\): .*webhook_max_tasks must be at least",
        ),
        ("[qa]\nprofile = 'dev'\nlog_retention_days = 8", r"stage 'qa' .*log_retention_days"),
    ],
)
def test_a_wrong_stages_file_is_an_error_naming_it(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "stages.toml"
    path.write_text(text)
    with pytest.raises(DeployError, match=rf"^stages file {re.escape(str(path))}\b.*{error}"):
        resolve({"stage": "qa", "stages_file": str(path)})


def test_a_missing_stages_file_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere.toml"
    where = re.escape(str(path))
    with pytest.raises(DeployError, match=rf"^stages file {where} .*`stages_file`.*cannot read"):
        resolve({"stage": "dev", "stages_file": str(path)})
    assert main(["--stage", "dev", "-c", f"stages_file={path}", "--out", "/dev/null"]) == 2
    assert f"error: stages file {path}" in capsys.readouterr().err


# -- SSM parameters ----------------------------------------------------------------------------


def test_with_an_ssm_prefix_the_token_users_read_ssm(qa: Template) -> None:
    containers = _containers(qa, "qa")
    for name in TOKEN_USERS:
        env = {e["Name"]: e["Value"] for e in containers[name]["Environment"]}
        secrets = {s["Name"] for s in containers[name]["Secrets"]}
        assert env["VSL_SSM_PREFIX"] == SSM_PREFIX, name
        # The token comes from `<prefix>replicate-token`; the database users stay the stack's.
        assert "REPLICATE_API_TOKEN" not in secrets, name
        assert {"DATABASE_USER", "DATABASE_PASSWORD"} <= secrets, name
    for name in NO_TOKEN:
        assert "VSL_SSM_PREFIX" not in {e["Name"] for e in containers[name]["Environment"]}
    actions = _task_role_actions(qa, "qa")
    for role in TOKEN_USERS:
        (arn,) = actions[role]["ssm:GetParameters"]
        assert json.dumps(arn).endswith(':parameter/vsl/*"]]}'), arn
        assert not {a for a in actions[role] if a.startswith("ssm:") and a != "ssm:GetParameters"}
    for role in (*NO_TOKEN, "setup"):
        assert "ssm:GetParameters" not in actions.get(role, {}), role


def test_without_an_ssm_prefix_nothing_reads_ssm(homolog: Template) -> None:
    containers = _containers(homolog, "homolog")
    for name in TOKEN_USERS:
        assert "VSL_SSM_PREFIX" not in {e["Name"] for e in containers[name]["Environment"]}
        assert "REPLICATE_API_TOKEN" in {s["Name"] for s in containers[name]["Secrets"]}
    for role, actions in _task_role_actions(homolog, "homolog").items():
        assert not [a for a in actions if a.startswith("ssm:")], role


def test_the_small_profile_s_task_reads_ssm_with_a_prefix() -> None:
    from deploy.aws.app import synthesize

    template = Template.from_json(synthesize({"stage": "small", "ssm_prefix": "/acme/vsl/"}))
    containers = _containers(template, "small")
    for name in ("webhook", "code-server"):
        env = {e["Name"]: e["Value"] for e in containers[name]["Environment"]}
        assert env["VSL_SSM_PREFIX"] == "/acme/vsl/"
    for name in ("webserver", "daemon"):
        assert "VSL_SSM_PREFIX" not in {e["Name"] for e in containers[name]["Environment"]}
    (arn,) = _task_role_actions(template, "small")["dagster"]["ssm:GetParameters"]
    assert json.dumps(arn).endswith(':parameter/acme/vsl/*"]]}'), arn


@pytest.mark.parametrize("prefix", ["vsl", "/vsl", "vsl/", "/v sl/", "//"])
def test_an_ssm_prefix_is_a_path(prefix: str) -> None:
    with pytest.raises(DeployError, match="ssm_prefix"):
        resolve({"stage": "dev", "ssm_prefix": prefix})
    deploy, _ = resolve({"stage": "dev", "ssm_prefix": "none"})
    assert deploy.ssm_prefix is None
