"""The deployed Dagster instance files load as Dagster reads them, on the real PostgreSQL, and
the sensors trust a launcher that watches run workers instead of guessing from run age."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.storage.tags import WILL_RETRY_TAG

from tests.fixtures.aws import REGION
from vsl_pipelines.defs.generation.sensors import run_key_for, step_run_in_flight
from vsl_pipelines.defs.tags import SCRIPT, STATE_KEY, STEP

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "dagster"


@pytest.fixture
def docker_instance(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    for name, value in {
        "DAGSTER_PG_URL": database_url,  # Dagster's tables beside nothing else: a fresh database
        "VSL_IMAGE": "localhost/vsl-pipelines:latest",
        "VSL_RUN_NETWORK": "host",
        "VSL_S3_BUCKET": "vsl-media",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(DEPLOY / "docker"))
    try:
        yield instance
    finally:
        instance.dispose()


def test_the_single_host_instance(docker_instance: dg.DagsterInstance) -> None:
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_docker import DockerRunLauncher
    from dagster_postgres import PostgresRunStorage

    instance = docker_instance
    assert isinstance(instance.run_launcher, DockerRunLauncher)
    assert instance.run_launcher.image == "localhost/vsl-pipelines:latest"
    assert instance.run_launcher.networks == ["host"]
    # Secrets go by name: the launcher copies values from its own environment at launch.
    assert all("=" not in name for name in instance.run_launcher.env_vars)
    assert {"REPLICATE_API_TOKEN", "DAGSTER_PG_URL"} <= set(instance.run_launcher.env_vars)
    assert instance.run_launcher.supports_check_run_worker_health
    assert instance.run_monitoring_enabled and instance.run_retries_enabled
    assert instance.run_retries_max_retries == 2
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
    # The storage works: a run stored and read back from PostgreSQL.
    run = instance.add_run(dg.DagsterRun(job_name="compile", run_id=str(uuid.uuid4())))
    assert instance.get_run_by_id(run.run_id) is not None


def _aws_instance_home(
    name: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The instance file as the image has it, its storage's TLS parameters taken out (the test
    server speaks no TLS), with the database's fields in the environment as ECS gives them."""
    from urllib.parse import urlsplit

    document = yaml.safe_load((DEPLOY / name / "dagster.yaml").read_text())
    params = document["storage"]["postgres"]["postgres_db"].pop("params")
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == "/opt/dagster/app/certs/rds-global-bundle.pem"
    assert params["options"] == "-c role=vsl_dagster"
    home = tmp_path / name
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(document))
    url = urlsplit(database_url)
    for variable, value in {
        "DAGSTER_PG_HOST": url.hostname or "",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_NAME": url.path.lstrip("/"),
        "DAGSTER_PG_USER": url.username or "",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "VSL_S3_BUCKET": "vsl-media",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DAGSTER_HOME": str(home),
        "DAGSTER_ECS_CLUSTER": "vsl-prod",
        "DAGSTER_RUN_SUBNETS": "subnet-1,subnet-2",
        "DAGSTER_RUN_SECURITY_GROUP": "sg-runs",
        "DAGSTER_RUN_CAPACITY": "FARGATE_SPOT",
    }.items():
        monkeypatch.setenv(variable, value)
    return home


def test_the_aws_instance(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpy

    from dagster_aws.ecs import EcsRunLauncher

    home = _aws_instance_home("ecs", database_url, tmp_path, monkeypatch)
    # The daemon's container adds the runs' network before it starts.
    runpy.run_path(str(DEPLOY / "ecs" / "run_network.py"))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        # The launcher asks ECS for its task definition when it is built, so its config is
        # checked against its schema here, as the instance checks it.
        launcher = instance.get_ref().run_launcher_data
        assert launcher is not None
        assert (launcher.module_name, launcher.class_name) == ("dagster_aws.ecs", "EcsRunLauncher")
        checked = process_config(
            resolve_to_config_type(EcsRunLauncher.config_type()),
            yaml.safe_load(launcher.config_yaml),
        )
        assert checked.success, checked.errors
        config = checked.value
        # The stack's run task definition (by ARN), secrets inside it, no secret listing per
        # launch; runs in their own security group and subnets, on Fargate Spot here.
        assert config["task_definition"] == {"env": "DAGSTER_RUN_TASK_DEFINITION"}
        assert config["container_name"] == "run"
        assert config["secrets_tag"] is None
        assert config["use_current_ecs_task_config"] is False
        kwargs = config["run_task_kwargs"]
        assert kwargs["cluster"] == "vsl-prod"
        assert kwargs["networkConfiguration"] == {
            "awsvpcConfiguration": {
                "subnets": ["subnet-1", "subnet-2"],
                "securityGroups": ["sg-runs"],
                "assignPublicIp": "DISABLED",
            }
        }
        assert kwargs["capacityProviderStrategy"] == [
            {"capacityProvider": "FARGATE_SPOT", "weight": 1}
        ]
        assert "launchType" not in kwargs
        run = instance.add_run(dg.DagsterRun(job_name="compile", run_id=str(uuid.uuid4())))
        assert instance.get_run_by_id(run.run_id) is not None
    finally:
        instance.dispose()


def test_the_small_profiles_instance_runs_in_process(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small profile's one task: runs are the code server's subprocesses, few at once."""
    home = _aws_instance_home("ecs-small", database_url, tmp_path, monkeypatch)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        launcher = instance.get_ref().run_launcher_data
        assert launcher is not None and launcher.class_name == "DefaultRunLauncher"
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        document = yaml.safe_load((home / "dagster.yaml").read_text())
        assert document["concurrency"]["runs"]["max_concurrent_runs"] <= 4
    finally:
        instance.dispose()


def _started_run(instance: dg.DagsterInstance, state_key: str, **tags: str) -> dg.DagsterRun:
    return instance.add_run(
        dg.DagsterRun(
            job_name="collect_clips",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={STATE_KEY: state_key, SCRIPT: "s1", STEP: "keyframes", **tags},
        )
    )


def test_a_long_run_is_trusted_where_the_launcher_watches_workers(
    docker_instance: dg.DagsterInstance,
) -> None:
    """With a launcher that checks run workers, run monitoring fails a run whose container
    died; a run started long ago is still in flight and no second run is asked for."""
    _started_run(docker_instance, "clips:s1:1")
    time.sleep(0.01)
    assert run_key_for(docker_instance, "clips:s1:1", stale_after_s=0.001) is None
    assert step_run_in_flight(docker_instance, "s1", "keyframes", stale_after_s=0.001)


def test_a_long_run_is_presumed_dead_where_the_launcher_cannot_tell() -> None:
    with dg.instance_for_test() as instance:
        assert not instance.run_launcher.supports_check_run_worker_health
        _started_run(instance, "clips:s1:1")
        time.sleep(0.01)
        assert run_key_for(instance, "clips:s1:1", stale_after_s=0.001) == "clips:s1:1:1"
        assert run_key_for(instance, "clips:s1:1", stale_after_s=3600) is None


def test_a_failed_run_about_to_be_retried_holds_its_state(
    docker_instance: dg.DagsterInstance,
) -> None:
    """The instance retries a run whose worker died; the sensor must not ask for another run
    of the same state meanwhile, or two would run."""
    run = _started_run(docker_instance, "clips:s1:2")
    docker_instance.report_run_failed(run)
    docker_instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: "true"})
    assert run_key_for(docker_instance, "clips:s1:2") is None
    docker_instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: "false"})
    assert run_key_for(docker_instance, "clips:s1:2") == "clips:s1:2:1"
