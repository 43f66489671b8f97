"""The same flow on the production seams: S3 media store, DynamoDB inbox and jobs table (a
local moto server)."""

from typing import Any

from tests.fixtures.flow import Flow
from tests.test_flow import _decode
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.review import decide, review_queue


def test_flow_on_s3_and_dynamodb(
    aws_flow: Flow, stored_script: Script, s3_bucket: tuple[Any, str]
) -> None:
    flow = aws_flow
    flow.tick("script_partitions_sensor")
    flow.launch(flow.schedule(), default_job="generate")
    flow.drive(lambda: flow.status("spring-launch") == "review")
    with flow.db.connect() as conn:
        for item in review_queue(conn, "spring-launch"):
            decide(conn, "spring-launch", item["section"], "approved")
        conn.commit()
    flow.drive(lambda: flow.status("spring-launch") == "compiled")

    client, bucket = s3_bucket
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    with flow.db.connect() as conn:
        compilation = conn.execute("SELECT * FROM compilations").fetchone()
        takes = conn.execute("SELECT media_key FROM takes").fetchall()
    assert compilation["output_uri"] == f"s3://{bucket}/{compilation['output_key']}"
    assert {t["media_key"] for t in takes} | {compilation["output_key"]} <= keys
    # The image-to-video inputs came from presigned S3 URLs; the final video decodes.
    local = flow.store.local_path(compilation["output_key"])
    frames, sizes, duration, has_audio = _decode(str(local))
    assert frames > 0 and len(sizes) == 1 and has_audio
    assert abs(duration - compilation["duration_s"]) < 0.1
    # Every webhook went through DynamoDB: the inbox there holds the completed events.
    inbox = flow.resources["inbox"].inbox()
    events = inbox.read_after(0, 100)
    with flow.db.connect() as conn:
        predictions = {r["prediction_id"] for r in conn.execute("SELECT prediction_id FROM jobs")}
    assert {e.prediction().id for e in events} == predictions
    # Every job's status went to the real-time jobs table as it changed, and ended completed.
    layers = flow.resources["job_status"].layers()
    with flow.db.connect() as conn:
        public_ids = [str(r["public_id"]) for r in conn.execute("SELECT public_id FROM jobs")]
    for job_id in public_ids:
        document, source = layers.read(job_id)
        assert source == "dynamodb" and document is not None
        assert document["status"] == "completed" and document["result"]["originalKey"] in keys
