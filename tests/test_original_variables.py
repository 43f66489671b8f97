"""The original system's environment variables name what they named there: `S3_BUCKET` the
media bucket, `DYNAMODB_TABLE` the jobs table; the project's names win, and a disagreement is
a clear error, in the settings and at the `vsl` command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from vsl_pipelines.cli import main
from vsl_pipelines.settings import SettingsError, get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_original_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VSL_S3_BUCKET", "VSL_DYNAMODB_JOBS_TABLE", "VSL_DYNAMODB_TABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S3_BUCKET", "vsl-homolog-media")
    monkeypatch.setenv("DYNAMODB_TABLE", "vsl-homolog-realtime-jobs")
    settings = get_settings()
    assert settings.s3_bucket == "vsl-homolog-media"
    assert settings.dynamodb_jobs_table == "vsl-homolog-realtime-jobs"  # its jobs table
    assert settings.dynamodb_table is None  # not our webhook inbox


def test_the_same_value_under_both_names_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_BUCKET", "media")
    monkeypatch.setenv("VSL_S3_BUCKET", "media")
    assert get_settings().s3_bucket == "media"


def test_names_that_disagree_are_an_error_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_TABLE", "old-jobs")
    monkeypatch.setenv("VSL_DYNAMODB_JOBS_TABLE", "new-jobs")
    with pytest.raises(
        SettingsError,
        match="DYNAMODB_TABLE='old-jobs' and VSL_DYNAMODB_JOBS_TABLE='new-jobs' disagree",
    ):
        get_settings()
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: configuration: DYNAMODB_TABLE='old-jobs'")
    assert "Traceback" not in result.output
