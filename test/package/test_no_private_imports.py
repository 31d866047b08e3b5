"""No module imports another module's private names (issue 21): what a module shares is
public in its home module. Checked over the package, the benchmarks, the tests and tools."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def private_imports(source: str, name: str) -> list[str]:
    """'name:line: from module import _x' for each private name `source` imports from valence_ros."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("valence_ros"):
            found += [f"{name}:{node.lineno}: from {node.module} import {alias.name}"
                      for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_module_imports_a_private_name_of_another():
    files = [p for folder in ("valence_ros", "bench", "test", "tools", "cmake")
             for p in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 100
    found = [hit for path in files
             for hit in private_imports(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert found == []


def test_the_check_finds_a_private_import():
    source = "import os\nfrom valence_ros.cdr.strings import StringTable, _hidden\nfrom os import _exit\n"
    assert private_imports(source, "probe.py") == ["probe.py:2: from valence_ros.cdr.strings import _hidden"]
