"""The cost dashboard's screenshot in the README (docs/images/cost-dashboard.png): a scratch
database holding a workspace's month of realistic jobs (scripts and ad-hoc, settled or still
running, a few never created) and finished videos, the service on a free port, and Debian's
Chromium (through Playwright) signed in with the workspace's admin key.

    .venv/bin/python -m devtools.cost_dashboard_screenshot [--out PNG] [--phone PNG]

PostgreSQL at VSL_TEST_PG (default postgresql://postgres@127.0.0.1:5432), as for the tests;
the scratch database is dropped afterwards. The month shown is the current one (UTC), filled
up to today, so the projection runs from today to the month's end.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from pydantic import SecretStr

from tests.fixtures.database import SERVER_URL, _admin, _drop
from tests.fixtures.service import new_webhook_secret
from tests.fixtures.spending import insert_job, insert_video
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.domain.roles import Role
from vsl_pipelines.domain.script import load_script
from vsl_pipelines.inbox.postgres import PostgresInbox
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.services.keys import create_key
from vsl_pipelines.services.workspaces import create_workspace
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.storage.local import LocalMediaStore
from vsl_pipelines.web.app import create_app
from vsl_pipelines.web.deps import ApiConfig
from vsl_pipelines.web.server import start_service_in_thread

CHROMIUM = "/usr/bin/chromium"
OUT = PROJECT_ROOT / "docs" / "images" / "cost-dashboard.png"
REGISTRY = load_registry(PROJECT_ROOT / "config" / "models.json")
SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml"
SCRIPTS = ("spring-launch", "summer-sale", "webinar-invite", "black-friday-teaser")
USERS = ("crm-sync", "ana@northwind.test", "growth-bot")
# model: (estimate per prediction, how the actual bills against it: mean and spread)
MODELS = {
    "flux-schnell": (0.003, 1.0, 0.0),
    "sdxl": (0.0048, 0.85, 0.15),
    "stability-video": (0.12, 1.35, 0.2),
    "musicgen": (0.069, 0.9, 0.1),
    "kokoro-82m": (0.0023, 0.7, 0.1),
}
SCRIPT_MIX = ("flux-schnell",) * 6 + ("stability-video",) * 3 + ("kokoro-82m",) * 3 + ("musicgen",)
ADHOC_MIX = ("flux-schnell",) * 5 + ("sdxl",) * 3 + ("stability-video",)


def fill(db: Database, rng: random.Random, now: datetime) -> None:
    """Northwind's month so far: a few scripts' generation each weekday, ad-hoc images every
    day, a video finished most days; today's last jobs still running (estimates only)."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    script = load_script(SAMPLE, REGISTRY)
    with db.connect() as conn:
        workspace = create_workspace(conn, "northwind", "Northwind", 60.0, "screenshot")
        for script_id in SCRIPTS:
            insert_script(conn, script.model_copy(update={"id": script_id}), None, workspace.id)
        for day in range(now.day):
            midnight = start + timedelta(days=day)
            weekday = midnight.weekday() < 5
            for script_id in rng.sample(SCRIPTS, 2 if weekday else 1):
                for _ in range(rng.randint(8, 16)):
                    _job(
                        conn,
                        rng,
                        workspace.id,
                        midnight,
                        now,
                        rng.choice(SCRIPT_MIX),
                        script_id=script_id,
                    )
            for _ in range(rng.randint(10, 40)):
                _job(
                    conn,
                    rng,
                    workspace.id,
                    midnight,
                    now,
                    rng.choice(ADHOC_MIX),
                    user_id=rng.choice(USERS),
                )
            if weekday and rng.random() < 0.8:
                finished = min(midnight + timedelta(hours=rng.randint(12, 20)), now)
                insert_video(conn, rng.choice(SCRIPTS), finished, rng.uniform(45, 150))


def _job(
    conn: object,
    rng: random.Random,
    workspace_id: int,
    midnight: datetime,
    now: datetime,
    model_id: str,
    **owner: str,
) -> None:
    estimate, mean, spread = MODELS[model_id]
    created_at = min(midnight + timedelta(minutes=rng.randint(0, 24 * 60 - 1)), now)
    running = now - created_at < timedelta(minutes=20)
    never_created = rng.random() < 0.02
    actual = None if running or never_created else estimate * max(0.2, rng.gauss(mean, spread))
    insert_job(
        conn,  # type: ignore[arg-type]
        workspace_id=workspace_id,
        created_at=created_at,
        model_id=model_id,
        estimated_usd=estimate,
        actual_usd=None if actual is None else round(actual, 6),
        status="failed" if never_created else "processing" if running else "succeeded",
        created=not never_created,
        **owner,  # type: ignore[arg-type]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG (default {OUT})")
    parser.add_argument("--phone", type=Path, help="also a 390 px wide PNG here")
    args = parser.parse_args()
    name = f"vsl_shot_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"{SERVER_URL}/{name}")
    try:
        apply_migrations(db)
        fill(db, random.Random(22), datetime.now(UTC))
        _, key = create_key(db, "northwind-admin", workspace="northwind", role=Role.ADMIN)
        with tempfile.TemporaryDirectory() as media:
            config = ApiConfig(
                db=db,
                job_status=JobStatusLayers(db),
                media_store=LocalMediaStore(Path(media), "http://127.0.0.1:1/media"),
                registry=REGISTRY,
                api_key=SecretStr(uuid.uuid4().hex),
            )
            inbox = PostgresInbox(db)
            service = start_service_in_thread(
                create_app(inbox, new_webhook_secret(), Path(media), api=config)
            )
            try:
                shoot(service.url, key, args.out, args.phone)
            finally:
                service.stop()
                inbox.close()
    finally:
        _drop(name)


def shoot(url: str, key: str, out: Path, phone: Path | None) -> None:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for path, viewport in ((out, (1280, 900)), (phone, (390, 844))):
            if path is None:
                continue
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1
            )
            page = context.new_page()
            page.goto(f"{url}/studio/sign-in?next=/studio/costs")
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/studio/costs")
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            print(f"{path} ({viewport[0]} px wide)")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
