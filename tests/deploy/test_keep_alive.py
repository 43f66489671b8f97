"""Behind the ALB the service keeps idle connections longer than the balancer does
(`VSL_KEEP_ALIVE_S`, set by the stack), else the web limits' short default."""

from __future__ import annotations

import pytest

from deploy.aws.ingress import ALB_IDLE_TIMEOUT_S
from deploy.aws.services import SERVICE_KEEP_ALIVE_S
from vsl_pipelines.web.limits import KEEP_ALIVE_S
from vsl_pipelines.web.server import KEEP_ALIVE_ENV, service_limits


def test_keep_alive_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEEP_ALIVE_ENV, raising=False)
    assert service_limits()["timeout_keep_alive"] == KEEP_ALIVE_S
    monkeypatch.setenv(KEEP_ALIVE_ENV, str(SERVICE_KEEP_ALIVE_S))
    assert service_limits()["timeout_keep_alive"] == SERVICE_KEEP_ALIVE_S > ALB_IDLE_TIMEOUT_S
