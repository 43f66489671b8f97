"""The layers the tree promises: Dagster only in its layer, SQL only in db/ and the stores."""

from __future__ import annotations

import ast
from pathlib import Path

from vsl_pipelines.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "vsl_pipelines"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _package_imports() -> dict[str, set[str]]:
    """{top-level package or module: the other top-level ones it imports}."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        targets = graph.setdefault(top, set())
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "vsl_pipelines" and len(parts) > 1 and parts[1] != top:
                targets.add(parts[1])
    return graph


def test_packages_import_one_way() -> None:
    """The top-level packages form layers: no cycle of imports, of any length (ARCHITECTURE.md,
    "Where things are", lists them top to bottom)."""
    graph = _package_imports()
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif len(path) < len(graph):
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def test_the_order_of_layers_in_the_architecture_is_the_imports_order() -> None:
    """Each package in the map imports only packages listed below it."""
    text = (PROJECT_ROOT / "docs" / "ARCHITECTURE.md").read_text()
    block = text.split("<!-- layers -->")[1]
    order = [line.split()[0].rstrip("/") for line in block.strip().splitlines()[1:-1] if line]
    graph = _package_imports()
    assert sorted(order) == sorted(graph), "every package is in the map, once"
    wrong = [
        f"{package} imports {target}, listed above it"
        for index, package in enumerate(order)
        for target in graph[package]
        if target in order[:index]
    ]
    assert wrong == []


def test_only_the_dagster_layer_imports_dagster() -> None:
    """`vsl_pipelines/defs/` and `definitions.py` are the Dagster layer; the CLI may load it
    (partition registration, check results) but imports no Dagster module itself."""
    layer = {PACKAGE / "definitions.py", *(PACKAGE / "defs").rglob("*.py")}
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): sorted(
            n for n in _imports(path) if n == "dagster" or n.startswith(("dagster.", "dagster_"))
        )
        for path in PACKAGE.rglob("*.py")
        if path not in layer
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_sql_is_only_in_db_and_the_storage_back_ends() -> None:
    """Statements are executed by `db/` (and the inbox and media stores, which own their
    tables or buckets); assets, sensors, services and the web layer call their functions."""
    allowed = ("db", "inbox", "storage")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany"):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []


def test_only_the_sandbox_speech_module_imports_espeak_ng() -> None:
    """espeak-ng is GPL-3 and an optional extra (`speech`): one sandbox module loads it, and
    the sandbox's engine imports that module only when it renders speech."""
    speech_module = PACKAGE / "sandbox" / "speech.py"
    offenders = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in PACKAGE.rglob("*.py")
        if path != speech_module and any(n.startswith("espeakng") for n in _imports(path))
    )
    assert offenders == []
    top_level = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for path in PACKAGE.rglob("*.py")
        if path != speech_module
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "vsl_pipelines.sandbox.speech" not in top_level
    assert not any(
        isinstance(node, ast.ImportFrom)
        and node.module == "vsl_pipelines.sandbox"
        and any(alias.name == "speech" for alias in node.names)
        for path in PACKAGE.rglob("*.py")
        for node in ast.parse(path.read_text()).body
    )
