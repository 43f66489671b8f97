"""`GET /api/status/{jobId}` with a stored key on a Redis of the test's own: once the key and
the document are cached, each read is one Redis command from the service (the key, its rate
and the document in one script), seen by Redis's own MONITOR; and every rule of the long path
holds on the short one (rate, revocation, workspaces, a document Redis does not hold)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from vsl_pipelines.cache.key_cache import KeyCache
from vsl_pipelines.cache.key_rates import RedisKeyRates
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.jobs import attach_prediction, reserve_adhoc_job
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.redis_documents import RedisStatusDocuments
from vsl_pipelines.job_status.warm_read import WarmStatusRead, warm_status_read
from vsl_pipelines.services.keys import create_key, revoke_key
from vsl_pipelines.services.workspaces import create_workspace
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.server import RunningService, start_service_in_thread

# A MONITOR line: `1733530000.123456 [0 127.0.0.1:51234] "EVALSHA" "..." ...`; commands a
# script runs show `lua` in place of the client's address.
_MONITORED = re.compile(r'^\d+\.\d+ \[\d+ (?P<client>\S+)\] "(?P<command>[A-Za-z]+)"')


@dataclass
class StatusService:
    service: RunningService
    db: Database
    redis_url: str
    key_cache: KeyCache

    def job(self, workspace_id: int | None = None) -> str:
        with self.db.connect() as conn:
            row = reserve_adhoc_job(
                conn,
                workspace_id=workspace_id or default_workspace_id(conn),
                user_id="reader",
                media_type="image",
                model_id="flux-schnell",
                model_input={"prompt": "a lighthouse"},
                estimated_cost_usd=0.003,
                pricing={"basis": "output", "usd": 0.003},
            )
            attach_prediction(conn, row.id, {"id": f"p-{row.id}", "status": "processing"})
        return str(row.public_id)

    def read(self, job_id: str, key: str) -> httpx.Response:
        return httpx.get(f"{self.service.url}/api/status/{job_id}", headers={"X-API-Key": key})


@pytest.fixture
def status_service(
    db: Database,
    inbox: PostgresInbox,
    tmp_path: Path,
    registry: Registry,
    private_redis_url: str,
) -> Iterator[StatusService]:
    keys = KeyCache(redis.Redis.from_url(private_redis_url))
    rates = RedisKeyRates(private_redis_url)
    documents = RedisStatusDocuments(redis.Redis.from_url(private_redis_url, decode_responses=True))
    config = ApiConfig(
        db=db,
        media_store=LocalMediaStore(tmp_path, "http://127.0.0.1:1/media"),
        registry=registry,
        job_status=JobStatusLayers(db, [documents]),
        key_cache=keys,
        key_rates=rates,
        warm_status=warm_status_read(keys, rates, documents),
    )
    service = start_service_in_thread(create_app(inbox, "whsec_" + "A" * 32, tmp_path, api=config))
    try:
        yield StatusService(service, db, private_redis_url, keys)
    finally:
        service.stop()


@dataclass
class Monitor:
    """Redis's MONITOR in a `redis-cli` of its own, for counting what the service sends."""

    process: subprocess.Popen[bytes]
    output: Path

    def stop(self) -> list[tuple[str, str]]:
        """(client, command) of every command seen, scripts' inner ones excluded."""
        time.sleep(0.3)  # MONITOR writes each command as Redis runs it; let the last arrive
        self.process.terminate()
        self.process.wait(10)
        seen = [_MONITORED.match(line) for line in self.output.read_text().splitlines()]
        return [(m["client"], m["command"].upper()) for m in seen if m and m["client"] != "lua"]


def monitor(url: str, output: Path) -> Monitor:
    """MONITOR into a file (a pipe left unread would stall redis-cli once full)."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [shutil.which("redis-cli") or "redis-cli", "-u", url, "monitor"], stdout=sink
        )
    deadline = time.monotonic() + 10
    while not output.read_text().startswith("OK"):
        assert time.monotonic() < deadline and process.poll() is None, "MONITOR started"
        time.sleep(0.02)
    return Monitor(process, output)


def test_a_warm_read_is_one_redis_round_trip(status_service: StatusService, tmp_path: Path) -> None:
    _, key = create_key(status_service.db, "reader", rate_per_minute=1000)
    job_id = status_service.job()
    first = status_service.read(job_id, key)  # the key verified in PostgreSQL, Redis filled
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "processing"

    watching = monitor(status_service.redis_url, tmp_path / "monitor.txt")
    answers = [status_service.read(job_id, key) for _ in range(3)]
    commands = watching.stop()

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json() == first.json() for a in answers)
    assert [command for _client, command in commands] == ["EVALSHA"] * 3, commands


def test_the_one_trip_read_keeps_every_rule(status_service: StatusService) -> None:
    db = status_service.db
    _, key = create_key(db, "slow", rate_per_minute=3)
    job_id = status_service.job()
    assert [status_service.read(job_id, key).status_code for _ in range(3)] == [200] * 3
    over = status_service.read(job_id, key)  # the bucket the long path filled, read in the script
    assert over.status_code == 429, over.text
    assert int(over.headers["Retry-After"]) >= 1
    assert "over its rate of 3 requests a minute" in over.json()["detail"]

    # A document Redis no longer holds is read from PostgreSQL (and cached again).
    _, reader = create_key(db, "reader", rate_per_minute=1000)
    assert status_service.read(job_id, reader).status_code == 200
    documents = redis.Redis.from_url(status_service.redis_url)
    documents.delete(f"vsl:status:{job_id}")
    again = status_service.read(job_id, reader)
    assert again.status_code == 200 and again.json()["jobId"] == job_id
    assert documents.hget(f"vsl:status:{job_id}", "doc") is not None

    # Another workspace's job is unknown to the key, cached document or not.
    with db.connect() as conn:
        other = create_workspace(conn, "other-team", None, None, "test")
    foreign = status_service.job(other.id)
    _, outsider = create_key(db, "outsider", workspace="other-team", rate_per_minute=1000)
    assert status_service.read(foreign, outsider).status_code == 200
    assert status_service.read(foreign, reader).status_code == 404
    assert status_service.read(foreign, reader).status_code == 404  # both cached now

    # A revoked key is refused at once (its cache entry is dropped), and so is a wrong one.
    revoke_key(db, "reader", status_service.key_cache)
    assert status_service.read(job_id, reader).status_code == 401
    assert status_service.read(job_id, reader[:-1] + "x").status_code == 401
    # An id in another spelling still answers (read the long way).
    assert status_service.read(job_id.upper(), outsider).status_code == 404


def test_redis_down_is_a_miss(registry: Registry, redis_url: str) -> None:
    down = "redis://127.0.0.1:1/0"
    reader = warm_status_read(
        KeyCache(redis.Redis.from_url(down)),
        RedisKeyRates(down),
        RedisStatusDocuments(redis.Redis.from_url(down, decode_responses=True)),
    )
    assert isinstance(reader, WarmStatusRead)
    assert reader.read(b"\x00" * 32, "00000000-0000-0000-0000-000000000000") is None
    assert warm_status_read(None, RedisKeyRates(redis_url), None) is None
