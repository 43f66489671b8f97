"""Shared fixtures: each module under tests/fixtures starts one real server or makes real data."""

import os
from pathlib import Path

# The tests' notification receivers listen on loopback, which deployments refuse.
os.environ.setdefault("VSL_NOTIFY_INTERNAL_HOSTS", "1")

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
