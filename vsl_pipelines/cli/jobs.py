"""`vsl jobs`: one generation job (ad-hoc or a script's) by its job id, read through the same
layers as `GET /api/status/{jobId}`."""

from __future__ import annotations

import click

from vsl_pipelines.cli.output import as_json, fail


@click.group()
def jobs() -> None:
    """Generation jobs (one per prediction)."""


@jobs.command("show")
@click.argument("job_id")
def jobs_show(job_id: str) -> None:
    """The job's status document: from Redis (REDIS_URL), the DynamoDB jobs table
    (VSL_DYNAMODB_JOBS_TABLE), else PostgreSQL; `source` says which answered."""
    import uuid

    from vsl_pipelines.db.migrations import ready_database
    from vsl_pipelines.job_status.layers import make_status_layers
    from vsl_pipelines.settings import get_settings

    try:
        public_id = str(uuid.UUID(job_id))
    except ValueError:
        fail(f"{job_id!r} is not a job id (a UUID, as `vsl scripts show` and the API give it)")
    settings = get_settings()
    layers = make_status_layers(
        ready_database(),
        redis_url=settings.redis_url,
        jobs_table=settings.dynamodb_jobs_table,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
    document, source = layers.read(public_id)
    if document is None:
        fail(f"no job {job_id!r}")
    click.echo(as_json({**document, "source": source}))
