"""`vsl jobs`: one generation job by its prediction id, read through the status cache."""

from __future__ import annotations

import click

from vsl_pipelines.cli.output import as_json, fail


@click.group()
def jobs() -> None:
    """Generation jobs (one per prediction)."""


@jobs.command("show")
@click.argument("prediction_id")
def jobs_show(prediction_id: str) -> None:
    """The job's status: from Redis when cached (REDIS_URL), else from PostgreSQL."""
    from vsl_pipelines.cache import job_status_cache_from_url
    from vsl_pipelines.db.migrations import ready_database_url
    from vsl_pipelines.services.status import prediction_status
    from vsl_pipelines.settings import get_settings

    cache = job_status_cache_from_url(get_settings().redis_url)
    status = prediction_status(ready_database_url(), cache, prediction_id)
    if status is None:
        fail(f"no job has prediction {prediction_id!r}")
    click.echo(as_json(status))
