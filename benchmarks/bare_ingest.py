"""The bare stack the webhook ingest is measured against (issue 10): Starlette, uvicorn with
httptools and uvloop, `standardwebhooks` verification and one `psycopg_pool` insert
`ON CONFLICT DO NOTHING` per webhook. No limits, no logging, no parsing of the body.

Run by benchmarks/ingest_bench.py as `uvicorn benchmarks.bare_ingest:app` with
`BARE_DATABASE_URL` and `BARE_WEBHOOK_SECRET` set.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

pool = AsyncConnectionPool(os.environ["BARE_DATABASE_URL"], min_size=8, max_size=8, open=False)
verifier = Webhook(os.environ["BARE_WEBHOOK_SECRET"])


async def receive(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        verifier.verify(body, dict(request.headers))
    except WebhookVerificationError:
        return JSONResponse({"detail": "invalid signature"}, status_code=401)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO bare_inbox (webhook_id, body) VALUES (%s, %s)"
            " ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id",
            (request.headers["webhook-id"], body.decode()),
        )
        stored = await cursor.fetchone() is not None
    return JSONResponse({"stored": stored})


@asynccontextmanager
async def lifespan(_app: Any) -> Any:
    await pool.open()
    async with pool.connection() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bare_inbox (webhook_id text PRIMARY KEY, body text NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now())"
        )
    yield
    await pool.close()


app = Starlette(routes=[Route("/webhooks/replicate", receive, methods=["POST"])], lifespan=lifespan)
