"""Shared fixtures: each module under tests/fixtures starts one real server or makes real data."""

import os
import tempfile
from pathlib import Path

# Temporary files in memory where the machine has /dev/shm (an explicit TMPDIR is kept): the
# Dagster instances the tests make (`instance_for_test`, a daemon's DAGSTER_HOME under tmp_path)
# keep SQLite storage, whose every commit waits on a disk's fsync: 2.8 s to make one instance on
# this machine, 0.6 s in memory. The processes the tests start inherit TMPDIR.
_SHM = Path("/dev/shm")
if "TMPDIR" not in os.environ and _SHM.is_dir() and os.access(_SHM, os.W_OK):
    _TMP = _SHM / f"vsl-tests-{os.getuid()}"
    _TMP.mkdir(mode=0o755, exist_ok=True)  # traversed by PostgreSQL's own user (embedded tests)
    os.environ["TMPDIR"] = str(_TMP)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again

# The tests' notification receivers listen on loopback, which deployments refuse.
os.environ.setdefault("VSL_NOTIFY_INTERNAL_HOSTS", "1")

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
