"""The generation resource: the real `replicate` client, pointed at Replicate or the sandbox."""

import dagster as dg

from vsl_pipelines.cache import rate_limiter_from_url
from vsl_pipelines.generation.predictions import PredictionClient


class ReplicateResource(dg.ConfigurableResource):
    base_url: str
    api_token: str | None = None
    webhook_url: str | None = None
    max_attempts: int = 6
    base_delay_s: float = 0.5
    redis_url: str | None = None

    def client(self) -> PredictionClient:
        return PredictionClient(
            self.base_url,
            self.api_token,
            self.webhook_url,
            max_attempts=self.max_attempts,
            base_delay_s=self.base_delay_s,
            rate_limiter=rate_limiter_from_url(self.redis_url),
        )
