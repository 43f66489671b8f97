"""Secrets reach Dagster's resources by reference (`EnvVar`), never as values the UI or a run's
config would show: the Replicate token, the database URL and the Redis URL (its AUTH token)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from vsl_pipelines.definitions import resources_from_settings
from vsl_pipelines.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_secret_settings_are_env_var_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://vsl_app:db-pass-1@db.internal:5432/vsl")
    monkeypatch.setenv("REDIS_URL", "rediss://:redis-token-1@cache.internal:6379/0")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_secrettoken1234")
    resources = resources_from_settings(get_settings())
    assert resources["database"].url == dg.EnvVar("DATABASE_URL")
    assert resources["replicate"].api_token == dg.EnvVar("REPLICATE_API_TOKEN")
    assert resources["replicate"].redis_url == dg.EnvVar("REDIS_URL")
    assert resources["job_status"].redis_url == dg.EnvVar("REDIS_URL")
    shown = repr(resources)
    for secret in ("db-pass-1", "redis-token-1", "r8_secrettoken1234"):
        assert secret not in shown
