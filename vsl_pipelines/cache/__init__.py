"""Redis-backed helpers shared by every process: Replicate's rate limits and a job status cache.

Both are optional: with no `REDIS_URL` the `*_from_url` factories return no-op implementations.
"""

from vsl_pipelines.cache.job_status import (
    JobStatusCache,
    NullJobStatusCache,
    RedisJobStatusCache,
    job_status_cache_from_url,
)
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
    "JobStatusCache",
    "NullJobStatusCache",
    "NullRateLimiter",
    "RateLimitTimeout",
    "RateLimiter",
    "RedisJobStatusCache",
    "RedisRateLimiter",
    "job_status_cache_from_url",
    "rate_limiter_from_url",
]
