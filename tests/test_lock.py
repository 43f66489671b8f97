"""The lock is what was installed: uv.lock agrees with pyproject.toml, the exported
requirements with uv.lock, and this environment holds exactly the locked versions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)(?:\s*;\s*([^\\]+))?")


def locked(name: str) -> dict[str, str]:
    """{package: version} of requirements/NAME.txt whose markers hold on this interpreter."""
    pins = {}
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        match = PIN.match(line)
        if match and (match[3] is None or Marker(match[3].strip()).evaluate()):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_the_lock_and_its_exports_agree_with_pyproject() -> None:
    uv = Path(sys.executable).parent / "uv"
    result = subprocess.run(
        ["requirements/lock.sh", "check"],
        cwd=ROOT,
        env={**os.environ, "UV": str(uv)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_this_environment_holds_the_locked_versions() -> None:
    pins = locked("dev")
    assert {"dagster", "standardwebhooks", "fastapi", "setuptools"} <= pins.keys()
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    wrong = {
        name: (version, installed.get(name))
        for name, version in pins.items()
        if installed.get(name) != version
    }
    assert not wrong, f"locked != installed: {wrong}"


def test_every_python_gets_the_same_versions() -> None:
    """One version of each package whatever the interpreter: a fork in the lock (a release
    for newer Pythons only) would test one program on 3.11 and ship another on 3.12."""
    for name in ("runtime", "dev"):
        pinned = [
            canonicalize_name(match[1])
            for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
            if (match := PIN.match(line))
        ]
        forked = sorted({p for p in pinned if pinned.count(p) > 1})
        assert forked == [], f"requirements/{name}.txt pins {forked} differently per Python"


def test_the_runtime_set_is_the_dev_set_without_the_tools() -> None:
    runtime, dev = locked("runtime"), locked("dev")
    assert runtime.items() <= dev.items()
    assert "pytest" not in runtime and "uv" not in runtime
    assert locked("build").keys() == {"setuptools"}
