import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.database import SERVER_URL
from vsl_pipelines.db.connection import close_pool
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import MIGRATIONS_DIR, apply_migrations
from vsl_pipelines.inbox.postgres import PostgresInbox


def test_migrations_apply_once_and_create_every_table(database_url: str) -> None:
    assert apply_migrations(Database(database_url)) == []
    with psycopg.connect(database_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
    assert {
        "scripts",
        "sections",
        "jobs",
        "takes",
        "approvals",
        "compilations",
        "webhook_inbox",
        "schema_migrations",
    } <= tables


def test_fresh_database_gets_all_migrations() -> None:
    name = "vsl_mig_fresh_check"
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        assert apply_migrations(Database(f"{SERVER_URL}/{name}")) == [
            "0001_initial",
            "0002_script_checked_at",
            "0003_script_failure",
            "0004_one_decision_per_take",
            "0005_api_keys",
            "0006_adhoc_jobs",
            "0007_compile_requests",
            "0008_inbox_sequenced_by_reader",
            "0009_narration_stage",
            "0010_narration_takes",
            "0011_workspaces",
            "0012_billed_costs",
            "0013_review_settings",
            "0014_workspace_notifications",
            "0015_script_versions",
            "0016_collected_at_the_webhook",
            "0017_soundtrack_takes",
            "0018_watch_events",
            "0019_materialization_sent",
        ]
    finally:
        close_pool(f"{SERVER_URL}/{name}")
        with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_before(first_missing: str, tmp_path: Path, name: str) -> Iterator[str]:
    """A fresh database with every migration before `first_missing` applied (a database from
    before that change); dropped afterwards."""
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.stem < first_missing:
            shutil.copy(path, before / path.name)
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER_URL}/{name}"
    try:
        apply_migrations(Database(url), before)
        yield url
    finally:
        close_pool(url)
        with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_decisions_recorded_twice_on_a_take_keep_the_first(tmp_path: Path) -> None:
    """Databases from before one-decision-per-take: the first decision on a take stays the
    decision (the one the sensor acted on); later ones are kept, void."""
    with database_before("0004", tmp_path, "vsl_mig_decisions_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO scripts (id, title, document) VALUES ('s', 't', '{}'::jsonb)")
            for decision in ("rejected", "approved", "rejected"):
                conn.execute(
                    "INSERT INTO approvals (script_id, section_id, take, decision)"
                    " VALUES ('s', 'hook', 1, %s)",
                    (decision,),
                )
        assert apply_migrations(Database(url))[0] == "0004_one_decision_per_take"
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT decision, void FROM approvals ORDER BY id").fetchall()
        assert rows == [("rejected", False), ("approved", True), ("rejected", True)]


def test_narrations_from_before_get_their_own_take_and_keep_their_approval(
    tmp_path: Path,
) -> None:
    """Databases from before narration decisions: a narration's take is the section's current
    take (the one it was spoken under); a clip approval of a take whose narration is stored
    approves that narration too (an approved script stays approved), under the negated id so
    the approval sensor never acts on it twice; rejections are not carried over. Then one
    decision per take of each subject."""
    with database_before("0010", tmp_path, "vsl_mig_narration_takes_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO scripts (id, title, document) VALUES ('s', 't', '{}'::jsonb)")
            conn.execute(
                "INSERT INTO sections (script_id, id, position, narration, spec, current_take)"
                " VALUES ('s', 'hook', 0, 'words', '{}'::jsonb, 2),"
                " ('s', 'offer', 1, 'more words', '{}'::jsonb, 1)"
            )
            for section, take in (("hook", 1), ("hook", 2), ("offer", 1)):
                conn.execute(
                    "INSERT INTO takes (script_id, section_id, stage, take, media_key, probe)"
                    " VALUES ('s', %s, 'narration', %s, 'k', '{}'::jsonb)",
                    (section, take),
                )
            ids = [
                conn.execute(
                    "INSERT INTO approvals (script_id, section_id, take, decision)"
                    " VALUES ('s', %s, %s, %s) RETURNING id",
                    (section, take, decision),
                ).fetchone()[0]
                for section, take, decision in (
                    ("hook", 1, "rejected"),
                    ("hook", 2, "approved"),
                    ("offer", 1, "rejected"),
                )
            ]
        assert apply_migrations(Database(url))[0] == "0010_narration_takes"
        with psycopg.connect(url, autocommit=True) as conn:
            sections = conn.execute(
                "SELECT id, current_take, narration_take, narration_overrides FROM sections"
                " ORDER BY position"
            ).fetchall()
            assert sections == [("hook", 2, 2, {}), ("offer", 1, 1, {})]
            rows = conn.execute(
                "SELECT id, section_id, subject, take, decision FROM approvals ORDER BY id"
            ).fetchall()
            assert rows == [
                (-ids[1], "hook", "narration", 2, "approved"),
                (ids[0], "hook", "clip", 1, "rejected"),
                (ids[1], "hook", "clip", 2, "approved"),
                (ids[2], "offer", "clip", 1, "rejected"),
            ]
            # One decision per (section, subject, take): the clip's and the narration's apart.
            conn.execute(
                "INSERT INTO approvals (script_id, section_id, subject, take, decision)"
                " VALUES ('s', 'offer', 'narration', 1, 'approved')"
            )
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(
                    "INSERT INTO approvals (script_id, section_id, subject, take, decision)"
                    " VALUES ('s', 'offer', 'narration', 1, 'rejected')"
                )
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO approvals (script_id, section_id, subject, take, decision)"
                    " VALUES ('s', 'offer', 'voice', 1, 'approved')"
                )


def test_compilations_from_before_requests_keep_their_format_and_one_in_flight(
    tmp_path: Path,
) -> None:
    """Databases from before compile requests: formats are read from the stored keys, and of
    the `running` rows that dead runs left, only each script's newest stays in flight."""
    with database_before("0007", tmp_path, "vsl_mig_compile_requests_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO scripts (id, title, document)"
                """ VALUES ('s', 't', '{"output": {"format": "webm"}}'::jsonb)"""
            )
            conn.execute(
                "INSERT INTO compilations (script_id, status, output_key) VALUES"
                " ('s', 'succeeded', 'scripts/s/final/s-c1.mp4'), ('s', 'running', NULL),"
                " ('s', 'running', NULL)"
            )
        assert apply_migrations(Database(url))[0] == "0007_compile_requests"
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT status, output_format, quality FROM compilations ORDER BY id"
            ).fetchall()
            assert rows == [
                ("succeeded", "mp4", "standard"),
                ("failed", "webm", "standard"),
                ("running", "webm", "standard"),
            ]
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(
                    "INSERT INTO compilations (script_id, status) VALUES ('s', 'requested')"
                )


def test_inbox_rows_from_before_keep_their_numbers_and_new_ones_follow(tmp_path: Path) -> None:
    """The inbox numbered at insert becomes numbered by its reader: old rows keep their `seq`,
    a cursor from before stays valid, rows written after are numbered above it."""
    with database_before("0008", tmp_path, "vsl_mig_inbox_numbers_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(3):
                conn.execute(
                    "INSERT INTO webhook_inbox (webhook_id, body) VALUES (%s, '{}')", (f"old-{i}",)
                )
        assert apply_migrations(Database(url)) == [
            "0008_inbox_sequenced_by_reader",
            "0009_narration_stage",
            "0010_narration_takes",
            "0011_workspaces",
            "0012_billed_costs",
            "0013_review_settings",
            "0014_workspace_notifications",
            "0015_script_versions",
            "0016_collected_at_the_webhook",
            "0017_soundtrack_takes",
            "0018_watch_events",
            "0019_materialization_sent",
        ]
        inbox = PostgresInbox(Database(url))
        old = inbox.read_after(0, 10)
        assert [(e.webhook_id, e.seq) for e in old] == [("old-0", 1), ("old-1", 2), ("old-2", 3)]
        assert inbox.put("new-0", "{}") is True and inbox.put("old-1", "{}") is False
        assert [(e.webhook_id, e.seq) for e in inbox.read_after(3, 10)] == [("new-0", 4)]


def test_a_missing_migrations_folder_is_an_error_not_nothing_to_do(
    database_url: str, tmp_path: Path
) -> None:
    """An installed package run without VSL_PROJECT_ROOT must not pass for migrated."""
    with pytest.raises(FileNotFoundError, match="VSL_PROJECT_ROOT"):
        apply_migrations(Database(database_url), tmp_path / "database" / "migrations")


def test_what_existed_before_workspaces_goes_to_default(tmp_path: Path) -> None:
    """A database at the schema before workspaces: its scripts, jobs (ad-hoc too) and keys
    belong to `default` afterwards, keys as writers; new rows must name their workspace."""
    with database_before("0011", tmp_path, "vsl_mig_workspaces_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO scripts (id, title, document) VALUES ('s', 't', '{}'::jsonb)")
            conn.execute(
                "INSERT INTO jobs (script_id, section_id, stage, take, model_id, input,"
                " estimated_cost_usd, media_type) VALUES"
                " ('s', 'hook', 'clip', 1, 'm', '{}', 0.1, 'video'),"
                " (NULL, '', 'adhoc', 1, 'm', '{}', 0.2, 'image')"
            )
            conn.execute(
                "INSERT INTO api_keys (name, rate_per_minute, prefix, key_sha256)"
                " VALUES ('crm', 60, 'vsl_ab', '\\x00')"
            )
        assert apply_migrations(Database(url)) == [
            "0011_workspaces",
            "0012_billed_costs",
            "0013_review_settings",
            "0014_workspace_notifications",
            "0015_script_versions",
            "0016_collected_at_the_webhook",
            "0017_soundtrack_takes",
            "0018_watch_events",
            "0019_materialization_sent",
        ]
        with psycopg.connect(url, autocommit=True) as conn:
            [(default,)] = conn.execute("SELECT id FROM workspaces WHERE slug = 'default'")
            owners = {
                table: {r[0] for r in conn.execute(f"SELECT workspace_id FROM {table}")}
                for table in ("scripts", "jobs", "api_keys")
            }
            [(role,)] = conn.execute("SELECT role FROM api_keys")
            with pytest.raises(psycopg.errors.NotNullViolation):
                conn.execute("INSERT INTO scripts (id, title, document) VALUES ('n', 't', '{}')")
        assert owners == {"scripts": {default}, "jobs": {default}, "api_keys": {default}}
        assert role == "writer"


def test_jobs_from_before_billing_are_priced_from_replicates_figures(tmp_path: Path) -> None:
    """Ended jobs get an actual cost from their stored predict_time (hardware models) or their
    outputs (flux-schnell, per image); jobs without figures are marked estimated; jobs that
    never reached Replicate stay as they were."""
    with database_before("0012", tmp_path, "vsl_mig_billing_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO jobs (script_id, section_id, stage, take, model_id, input,"
                " estimated_cost_usd, actual_cost_usd, media_type, workspace_id, prediction_id,"
                " status, predict_time_s, output) VALUES"
                " (NULL, '', 'adhoc', 1, 'sdxl', '{}', 0.0048, 0.0048, 'image',"
                "  (SELECT id FROM workspaces), 'p1', 'succeeded', 4.2, '[\"u\"]'),"
                " (NULL, '', 'adhoc', 1, 'flux-schnell', '{}', 0.006, 0.006, 'image',"
                "  (SELECT id FROM workspaces), 'p2', 'succeeded', 0.9, '[\"u\", \"v\"]'),"
                " (NULL, '', 'adhoc', 1, 'flux-schnell', '{}', 0.003, NULL, 'image',"
                "  (SELECT id FROM workspaces), 'p3', 'failed', 0.4, 'null'),"
                " (NULL, '', 'adhoc', 1, 'stability-video', '{}', 0.12, NULL, 'video',"
                "  (SELECT id FROM workspaces), 'p4', 'failed', 2.5, 'null'),"
                " (NULL, '', 'adhoc', 1, 'custom', '{}', 0.5, 0.5, 'video',"
                "  (SELECT id FROM workspaces), 'p5', 'succeeded', 9.0, '\"u\"'),"
                " (NULL, '', 'adhoc', 1, 'sdxl', '{}', 0.0048, NULL, 'image',"
                "  (SELECT id FROM workspaces), NULL, 'failed', NULL, 'null')"
            )
        assert apply_migrations(Database(url)) == [
            "0012_billed_costs",
            "0013_review_settings",
            "0014_workspace_notifications",
            "0015_script_versions",
            "0016_collected_at_the_webhook",
            "0017_soundtrack_takes",
            "0018_watch_events",
            "0019_materialization_sent",
        ]
        with psycopg.connect(url) as conn:
            rows = {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(
                    "SELECT coalesce(prediction_id, 'never'), actual_cost_usd::text, cost_source,"
                    " pricing->>'basis' FROM jobs"
                )
            }
    assert rows == {
        "p1": ("0.004095", "billed", "hardware"),  # 4.2 s x $0.000975 (L40S)
        "p2": ("0.006000", "billed", "output"),  # two images x $0.003
        "p3": ("0.000000", "billed", "output"),  # a failed per-image prediction made nothing
        "p4": ("0.003500", "billed", "hardware"),  # failed after 2.5 s on an A100 (80GB)
        "p5": ("0.500000", "estimated", None),  # not a registry model: the estimate stands
        "never": (None, None, "hardware"),  # never created: counted as nothing, as before
    }
