"""A job's status document through its layers: Redis, the DynamoDB jobs table, PostgreSQL.

`layers.py` reads through them and publishes a changed job to each; `redis_documents.py` and
`dynamodb_table.py` are the two cache layers. The document itself is `domain.job_document`.
"""

from vsl_pipelines.job_status.layers import JobStatusLayers, make_status_layers

__all__ = ["JobStatusLayers", "make_status_layers"]
