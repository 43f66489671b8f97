"""The original system's SSM parameters (`/vsl/database-url`, `/vsl/redis-url`,
`/vsl/replicate-token`), read at a container's start under `VSL_SSM_PREFIX`
(vsl_pipelines/deployment/ssm_parameters.py), against the tests' moto server over HTTP."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from tests.fixtures.aws import REGION, aws_client
from tests.serve_moto import running_moto
from vsl_pipelines.deployment.ssm_parameters import (
    PARAMETERS,
    SsmError,
    fill_from_ssm,
    read_parameters,
)

VALUES = {
    "database-url": "postgresql://vsl:s3cret-db@db.example.internal:5432/vsl",
    "redis-url": "rediss://:s3cret-redis@cache.example.internal:6379/0",
    "replicate-token": "r8_s3cretTokenFromSsm",
}
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@pytest.fixture
def ssm(moto_server: str) -> Any:
    return aws_client("ssm", moto_server)


def _prefix() -> str:
    """A fresh prefix per test: the moto server is shared by the session."""
    return f"/vsl-{uuid.uuid4().hex[:10]}/"


def _put(client: Any, prefix: str, *names: str) -> None:
    for name in names:
        client.put_parameter(Name=f"{prefix}{name}", Value=VALUES[name], Type="SecureString")


class NoCalls:
    """A client that fails the test when SSM is called."""

    def get_parameters(self, **kwargs: Any) -> Any:
        raise AssertionError(f"SSM was called: {kwargs}")


def test_every_parameter_present_sets_its_variable(ssm: Any) -> None:
    prefix = _prefix()
    _put(ssm, prefix, *VALUES)
    env = {"VSL_SSM_PREFIX": prefix, "PATH": "/usr/bin"}
    assert fill_from_ssm(env, ssm) == (["DATABASE_URL", "REDIS_URL", "REPLICATE_API_TOKEN"], [])
    assert env == {
        "VSL_SSM_PREFIX": prefix,
        "PATH": "/usr/bin",
        "DATABASE_URL": VALUES["database-url"],
        "REDIS_URL": VALUES["redis-url"],
        "REPLICATE_API_TOKEN": VALUES["replicate-token"],
    }


def test_missing_parameters_are_skipped_and_named(ssm: Any) -> None:
    prefix = _prefix()
    _put(ssm, prefix, "replicate-token")
    env = {"VSL_SSM_PREFIX": prefix}
    filled, missing = fill_from_ssm(env, ssm)
    assert filled == ["REPLICATE_API_TOKEN"]
    assert missing == [f"{prefix}database-url", f"{prefix}redis-url"]
    assert set(env) == {"VSL_SSM_PREFIX", "REPLICATE_API_TOKEN"}


def test_no_parameter_under_the_prefix_sets_nothing(ssm: Any) -> None:
    prefix = _prefix()
    _put(ssm, "/elsewhere" + prefix, *VALUES)  # same names, another path
    env = {"VSL_SSM_PREFIX": prefix}
    assert fill_from_ssm(env, ssm) == ([], [f"{prefix}{name}" for name in PARAMETERS])
    assert env == {"VSL_SSM_PREFIX": prefix}


def test_a_variable_the_environment_sets_wins(ssm: Any) -> None:
    prefix = _prefix()
    _put(ssm, prefix, *VALUES)
    env = {
        "VSL_SSM_PREFIX": prefix,
        "DATABASE_URL": "postgresql://given/db",
        "REDIS_URL": " ",  # blank counts as unset
    }
    assert fill_from_ssm(env, ssm) == (["REDIS_URL", "REPLICATE_API_TOKEN"], [])
    assert env["DATABASE_URL"] == "postgresql://given/db"
    assert env["REDIS_URL"] == VALUES["redis-url"]
    # Every variable set: SSM is not asked at all (no permission needed).
    given = {"VSL_SSM_PREFIX": prefix, **{v: "given" for v in PARAMETERS.values()}}
    assert fill_from_ssm(dict(given), NoCalls()) == ([], [])


def test_without_the_prefix_ssm_is_not_asked() -> None:
    for env in ({}, {"VSL_SSM_PREFIX": ""}, {"VSL_SSM_PREFIX": "  "}):
        assert fill_from_ssm(env, NoCalls()) == ([], [])


def test_one_call_asks_for_the_unset_ones_decrypted(ssm: Any) -> None:
    prefix = _prefix()
    calls = []

    class Recording:
        def get_parameters(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return ssm.get_parameters(**kwargs)

    fill_from_ssm({"VSL_SSM_PREFIX": prefix, "REDIS_URL": "redis://given"}, Recording())
    assert calls == [
        {
            "Names": [f"{prefix}database-url", f"{prefix}replicate-token"],
            "WithDecryption": True,
        }
    ]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_endpoint_that_does_not_answer_is_one_line_naming_the_prefix() -> None:
    client = aws_client("ssm", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(SsmError) as raised:
        read_parameters("/vsl/", list(PARAMETERS), client)
    message = str(raised.value)
    assert message.startswith("VSL_SSM_PREFIX=/vsl/: cannot read its SSM parameters: ")
    assert "EndpointConnectionError" in message and "\n" not in message


@contextlib.contextmanager
def _moto_checking_credentials() -> Iterator[str]:
    """A moto server of its own that checks credentials against its IAM (none is known), as
    AWS checks them."""
    stack = contextlib.ExitStack()
    with mock.patch.dict(os.environ, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}):
        endpoint = stack.enter_context(running_moto())
    with stack:
        yield endpoint


def test_bad_credentials_are_named_by_the_aws_error_code() -> None:
    with _moto_checking_credentials() as endpoint:
        client = aws_client("ssm", endpoint)
        with pytest.raises(SsmError) as raised:
            fill_from_ssm({"VSL_SSM_PREFIX": "/vsl/"}, client)
    # moto answers as IAM does (AWS's SSM says UnrecognizedClientException).
    message = str(raised.value)
    assert re.match(
        r"VSL_SSM_PREFIX=/vsl/: cannot read its SSM parameters: "
        r"(InvalidClientTokenId|UnrecognizedClientException) \(.+\)$",
        message,
    ), message


# -- the entry point, as ECS runs it -----------------------------------------------------------


ENTRY_POINT = [sys.executable, "-m", "vsl_pipelines.deployment.database_urls"]


def _entry_point(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRY_POINT, sys.executable, "-c", code],
        env={"PATH": os.environ["PATH"], "AWS_EC2_METADATA_DISABLED": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


PRINT_URLS = (
    "import os; print(os.environ.get('DATABASE_URL')); print(os.environ.get('REDIS_URL')); "
    "print(os.environ.get('REPLICATE_API_TOKEN'))"
)


def test_the_entry_point_fills_from_ssm_after_the_fields_and_names_only(
    ssm: Any, moto_server: str
) -> None:
    """The fields (Secrets Manager, the default) build DATABASE_URL first; SSM gives the rest;
    stderr names what came from where and shows no value."""
    prefix = _prefix()
    _put(ssm, prefix, *VALUES)
    env = {
        **DUMMY_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_server,
        "VSL_SSM_PREFIX": prefix,
        "DATABASE_HOST": "db.stack.internal",
        "DATABASE_USER": "vsl_app",
        "DATABASE_PASSWORD": "from-secrets-manager",
        "DATABASE_NAME": "vsl_app",
    }
    done = _entry_point(env, PRINT_URLS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "postgresql://vsl_app:from-secrets-manager@db.stack.internal:5432/vsl_app",
        VALUES["redis-url"],
        VALUES["replicate-token"],
    ]
    assert done.stderr.strip() == (
        f"database_urls: VSL_SSM_PREFIX={prefix}: set REDIS_URL, REPLICATE_API_TOKEN from SSM"
    )
    for value in VALUES.values():
        assert value not in done.stderr
    # A missing parameter is named; nothing set from it.
    other = _prefix()
    _put(ssm, other, "replicate-token")
    done = _entry_point({**env, "VSL_SSM_PREFIX": other}, PRINT_URLS)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        f"database_urls: VSL_SSM_PREFIX={other}: set REPLICATE_API_TOKEN from SSM; "
        f"not found: {other}redis-url"
    )


def test_the_entry_point_stops_with_one_line_when_ssm_cannot_be_read() -> None:
    env = {
        **DUMMY_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
        "VSL_SSM_PREFIX": "/vsl/",
    }
    done = _entry_point(env, "print('the command ran')")
    assert done.returncode == 1
    assert done.stdout == ""  # the command never started
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "database_urls: VSL_SSM_PREFIX=/vsl/: cannot read its SSM parameters: "
        "EndpointConnectionError ("
    ), line
    # No credentials at all: botocore's own error, named the same way.
    nowhere = {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    done = _entry_point({"AWS_REGION": REGION, "VSL_SSM_PREFIX": "/vsl/", **nowhere}, "print()")
    assert done.returncode == 1
    assert "cannot read its SSM parameters: NoCredentialsError (" in done.stderr
