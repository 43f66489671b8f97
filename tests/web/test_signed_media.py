"""Signed media URLs (issue 21): with `VSL_MEDIA_SECRET`, `/media` opens only the URLs the API
and the studio hand out; the same URL without its signature, past its age, or with another
file's signature (another workspace's media at a guessed key) is refused."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.api import StartApi
from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import create_workspace
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.storage.signing import MediaUrlSigner
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.server import RunningService, start_service_in_thread

SECRET = "media-secret-for-tests"
OURS = "adhoc/2026-12-06/ours.png"
THEIRS = "adhoc/2026-12-06/theirs.png"
AGE_S = 2  # the test service's URLs last two seconds


@pytest.fixture
def media(service_media_root: Path) -> dict[str, bytes]:
    files = {}
    for key in (OURS, THEIRS):
        path = service_media_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        files[key] = b"\x89PNG\r\n\x1a\n" + os.urandom(64 * 1024)
        path.write_bytes(files[key])
    return files


@pytest.fixture
def signed_service(
    inbox: PostgresInbox, webhook_secret: str, service_media_root: Path
) -> Iterator[RunningService]:
    service = start_service_in_thread(
        create_app(
            inbox, webhook_secret, service_media_root, media_signer=MediaUrlSigner(SECRET, AGE_S)
        )
    )
    yield service
    service.stop()


def _store(service: RunningService, root: Path, max_age_s: int = 3600) -> LocalMediaStore:
    return LocalMediaStore(root, f"{service.url}/media", MediaUrlSigner(SECRET, max_age_s))


def test_a_signed_url_plays_and_seeks(
    signed_service: RunningService, service_media_root: Path, media: dict[str, bytes]
) -> None:
    url = _store(signed_service, service_media_root).public_url(OURS)
    assert "sig=" in url
    whole = httpx.get(url, timeout=10)
    assert whole.status_code == 200 and whole.content == media[OURS]
    part = httpx.get(url, headers={"range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206 and part.content == media[OURS][100:200]


def test_without_its_signature_with_another_files_or_expired_it_is_refused(
    signed_service: RunningService, service_media_root: Path, media: dict[str, bytes]
) -> None:
    store = _store(signed_service, service_media_root)
    bare = httpx.get(f"{signed_service.url}/media/{OURS}", timeout=10)
    assert bare.status_code == 403 and "not signed" in bare.json()["detail"]
    ours = parse_qs(urlsplit(store.public_url(OURS)).query)["sig"][0]
    swapped = httpx.get(f"{signed_service.url}/media/{THEIRS}", params={"sig": ours}, timeout=10)
    assert swapped.status_code == 403 and "not valid for this file" in swapped.json()["detail"]
    forged = httpx.get(f"{signed_service.url}/media/{OURS}", params={"sig": ours[:-2] + "xx"})
    assert forged.status_code == 403
    other_secret = LocalMediaStore(
        service_media_root, f"{signed_service.url}/media", MediaUrlSigner("another secret")
    ).public_url(OURS)
    assert httpx.get(other_secret, timeout=10).status_code == 403
    url = store.public_url(OURS)
    assert httpx.get(url, timeout=10).status_code == 200
    time.sleep(AGE_S + 1.1)
    expired = httpx.get(url, timeout=10)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]


def test_the_api_hands_out_signed_urls_of_the_callers_workspace_only(
    db: Database, start_api: StartApi, service_media_root: Path, media: dict[str, bytes]
) -> None:
    with db.connect() as conn:
        acme = create_workspace(conn, "acme", "Acme", None, "test")
        globex = create_workspace(conn, "globex", "Globex", None, "test")
        ids = {}
        for workspace, key in ((acme, OURS), (globex, THEIRS)):
            job = job_rows.reserve_adhoc_job(
                conn,
                workspace_id=workspace.id,
                user_id="u",
                media_type="image",
                model_id="flux-schnell",
                model_input={"prompt": "x"},
                estimated_cost_usd=0.003,
                pricing={"basis": "output", "usd": 0.003},
            )
            job_rows.attach_prediction(conn, job.id, {"id": f"p-{key}", "status": "succeeded"})
            take_rows.record_adhoc_take(
                conn,
                job_id=job.id,
                media_key=key,
                thumbnail_key=None,
                probe={"width": 64, "height": 64},
                duration_s=None,
                size_bytes=len(media[key]),
                content_type="image/png",
            )
            job_rows.mark_collected(conn, job.id)
            ids[workspace.slug] = str(job.public_id)
    _, acme_key = create_key(db, "acme-viewer", workspace="acme", role=Role.VIEWER)
    service = start_api(api_key="bootstrap", media_signer=MediaUrlSigner(SECRET))
    status = httpx.get(
        f"{service.url}/api/status/{ids['acme']}", headers={"x-api-key": acme_key}, timeout=10
    )
    assert status.status_code == 200, status.text
    url = status.json()["result"]["originalUrl"].replace("http://127.0.0.1:1", service.url)
    played = httpx.get(url, timeout=10)
    assert played.status_code == 200 and played.content == media[OURS]
    theirs = httpx.get(
        f"{service.url}/api/status/{ids['globex']}", headers={"x-api-key": acme_key}, timeout=10
    )
    assert theirs.status_code == 404
    guessed = url.replace(OURS, THEIRS)  # the key guessed, the signature kept
    assert httpx.get(guessed, timeout=10).status_code == 403
