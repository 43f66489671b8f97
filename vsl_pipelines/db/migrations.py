"""Versioned SQL migrations from `database/migrations`, applied in order, each once."""

from __future__ import annotations

from pathlib import Path

from vsl_pipelines.db.database import Database
from vsl_pipelines.settings import PROJECT_ROOT, Settings, get_settings

MIGRATIONS_DIR = PROJECT_ROOT / "database" / "migrations"
_LOCK_ID = 742_801  # serializes concurrent migrators (CLI, daemon, service starting together)


def pending_migrations(applied: set[str], directory: Path = MIGRATIONS_DIR) -> list[Path]:
    if not directory.is_dir():
        # An installed package without its checkout would otherwise apply nothing, silently.
        raise FileNotFoundError(f"no migrations folder {directory} (set VSL_PROJECT_ROOT)")
    return [p for p in sorted(directory.glob("*.sql")) if p.stem not in applied]


def apply_migrations(db: Database, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    done: list[str] = []
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["name"] for r in conn.execute("SELECT name FROM schema_migrations")}
        for path in pending_migrations(applied, directory):
            conn.execute(path.read_text())  # type: ignore[call-overload]
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.stem,))
            done.append(path.stem)
    return done


def ready_database(settings: Settings | None = None) -> Database:
    """The configured database with every migration applied (starting the embedded server if
    needed)."""
    db = Database.from_settings(settings or get_settings())
    apply_migrations(db)
    return db
