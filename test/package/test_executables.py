"""The installed executables are cmake/executable.py with their entry point put in.

CMakeLists.txt renders the template (a real, linted Python file) once per executable;
this checks what `make setup` installed against the template and the executable list,
so a change to either that the build did not pick up, or a wrapper written some other
way, fails here. The behaviour of the wrappers is tested where it matters:
test/ros/test_node_signals.py (a signal during the imports exits 0) and every
integration test that starts an executable.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from helpers.install import require_install

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "cmake" / "executable.py"


def _executables() -> dict[str, tuple[str, str]]:
    """name -> (module, function), as CMakeLists.txt lists them."""
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    block = re.search(r"set\(VALENCE_ROS_EXECUTABLES\n(.*?)\n\)", text, re.S).group(1)
    entries = re.findall(r'"([^=]+)=([^:]+):([^"]+)"', block)
    return {name: (module, function) for name, module, function in entries}


def _render(interpreter: str, module: str, function: str) -> str:
    """What CMakeLists.txt makes of the template (the same three replacements)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("#!/usr/bin/env python3", f"#!{interpreter}")
    return text.replace("ENTRY_MODULE", module).replace("ENTRY_FUNCTION", function)


def test_the_template_names_its_placeholders_and_imports_the_entry_point():
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env python3\n")
    assert "from ENTRY_MODULE import ENTRY_FUNCTION" in text
    assert 'install_early("ENTRY_MODULE")' in text
    # the stop requests come before the entry point's import
    assert text.index("install_early(") < text.index("from ENTRY_MODULE import")


@pytest.mark.parametrize("name", sorted(_executables()))
def test_installed_executable_is_the_rendered_template(name):
    module, function = _executables()[name]
    prefix = require_install().parents[2]
    for exe in (prefix / "lib" / "valence_ros" / name, prefix / "bin" / name):
        assert exe.is_file() and os.access(exe, os.X_OK), f"{exe} not installed"
        text = exe.read_text(encoding="utf-8")
        interpreter = text.splitlines()[0][2:]
        assert text == _render(interpreter, module, function), \
            f"{exe} is not cmake/executable.py rendered for {module}:{function}: rebuild (make setup)"
