"""Secrets stay out of resource config, logs and errors."""

import json
import logging

import pytest

from vsl_pipelines.definitions import build_definitions
from vsl_pipelines.logs import JsonFormatter
from vsl_pipelines.settings import Settings

TOKEN = "r8_Sup3rS3cretT0kenValue0123456789"


def test_the_api_token_reaches_dagster_only_as_an_env_var_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    settings = Settings()
    assert settings.uses_sandbox is False
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    defs = build_definitions(settings)
    replicate = defs.resources["replicate"]
    assert TOKEN not in repr(replicate)
    assert "REPLICATE_API_TOKEN" in repr(replicate)


def test_log_lines_redact_tokens_secrets_and_bearer_headers() -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "calling with %s and whsec_QUJDREVGR0hJSktMTU5PUA== and Authorization: Bearer abc.def",
        (TOKEN,),
        None,
    )
    record.script_id = "spring-launch"
    line = json.loads(JsonFormatter().format(record))
    assert (
        TOKEN not in line["msg"]
        and "whsec_QUJD" not in line["msg"]
        and "abc.def" not in line["msg"]
    )
    assert line["msg"].count("[redacted]") == 3
    assert line["script_id"] == "spring-launch"
