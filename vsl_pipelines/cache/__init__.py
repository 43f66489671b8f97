"""Shared state outside PostgreSQL: Replicate's rate limits and per-key rates in Redis, and
the job status layers (Redis, the DynamoDB jobs table).

All optional: with no `REDIS_URL` the `*_from_url` factories return no-op implementations.
"""

from vsl_pipelines.cache.rate_limit import (
    REPLICATE_LIMITS,
    NullRateLimiter,
    RateLimiter,
    RateLimitTimeout,
    RedisRateLimiter,
    rate_limiter_from_url,
)

__all__ = [
    "REPLICATE_LIMITS",
    "NullRateLimiter",
    "RateLimitTimeout",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limiter_from_url",
]
