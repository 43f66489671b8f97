"""`vsl workspaces` and `vsl members` on a real database, as the README's command table gives them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from vsl_pipelines.cli import main
from vsl_pipelines.db.database import Database
from vsl_pipelines.settings import get_settings


@pytest.fixture(autouse=True)
def environment(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def vsl(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_workspaces_create_and_list_with_a_monthly_budget() -> None:
    made = vsl("workspaces", "create", "acme", "--name", "Acme", "--monthly-budget", "25")
    assert made.exit_code == 0, made.output
    row = json.loads(made.output)
    assert (row["slug"], row["name"], float(row["monthly_budget_usd"])) == ("acme", "Acme", 25)
    listed = json.loads(vsl("workspaces", "list").output)
    assert [w["slug"] for w in listed] == ["default", "acme"], "what existed before is `default`"
    again = vsl("workspaces", "create", "acme")
    assert again.exit_code != 0


def test_members_add_list_remove_by_email() -> None:
    assert vsl("workspaces", "create", "acme").exit_code == 0
    added = vsl("members", "add", "ana@example.com", "--workspace", "acme", "--role", "reviewer")
    assert added.exit_code == 0, added.output
    assert vsl("members", "add", "bo@example.com", "--role", "writer").exit_code == 0
    acme = json.loads(vsl("members", "list", "--workspace", "acme").output)
    assert [(m["email"], m["role"]) for m in acme] == [("ana@example.com", "reviewer")]
    default = json.loads(vsl("members", "list").output)
    assert [(m["email"], m["role"]) for m in default] == [("bo@example.com", "writer")]
    removed = vsl("members", "remove", "ana@example.com", "--workspace", "acme")
    assert removed.exit_code == 0, removed.output
    assert json.loads(vsl("members", "list", "--workspace", "acme").output) == []
    wrong = vsl("members", "add", "cy@example.com", "--role", "owner")
    assert wrong.exit_code == 2 and "owner" in wrong.output
