"""The `script_versions` table: scripts from before it get their document as version 1 with
the author the audit log names; a script stored without a version gets one once, however many
callers race; a version number is never taken twice."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.db.test_migrations import database_before
from vsl_pipelines.db import script_versions as version_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.domain.script import Script


def test_scripts_from_before_are_their_version_1(tmp_path: Path) -> None:
    with database_before("0015", tmp_path, "vsl_mig_versions_check") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO scripts (id, title, document, workspace_id, created_at)"
                " SELECT s.id, 'T', jsonb_build_object('id', s.id), w.id, '2026-01-02T03:04:05Z'"
                " FROM (VALUES ('audited'), ('older')) s(id), workspaces w"
            )
            conn.execute(
                "INSERT INTO audit_log (workspace_id, actor, action, object)"
                " SELECT id, 'mia@example.com', 'script.created', 'script:audited' FROM workspaces"
            )
        applied = apply_migrations(Database(url))
        assert applied[0] == "0015_script_versions"  # then the later ones (test_migrations.py)
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT script_id, version, saved_by, document->>'id', saved_at::text"
                " FROM script_versions ORDER BY script_id"
            ).fetchall()
    assert rows == [
        ("audited", 1, "mia@example.com", "audited", "2026-01-02 03:04:05+00"),
        ("older", 1, "unknown", "older", "2026-01-02 03:04:05+00"),
    ]


def test_a_first_version_is_kept_once(db: Database, stored_script: Script) -> None:
    with db.connect() as conn:
        assert version_rows.latest_version(conn, stored_script.id) == 1  # stored with it
        conn.execute("DELETE FROM script_versions")
        for _ in range(2):
            version_rows.keep_first_version(conn, stored_script.id)
        [first] = version_rows.versions_of(conn, stored_script.id)
    assert (first.version, first.saved_by) == (1, "unknown")
    assert first.document["id"] == stored_script.id
    with pytest.raises(psycopg.errors.UniqueViolation), db.connect() as conn:
        version_rows.record_version(conn, stored_script.id, 1, {}, "sam")
