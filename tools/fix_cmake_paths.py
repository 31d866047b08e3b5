"""Rewrite the ROS 2 wheels' build-machine include paths in a venv's CMake files.

The `ros-*` wheels (Jazzy and Kilted alike) were built in a manylinux container;
their CMake export files name that container's Python and numpy include
directories (/opt/python/cp311-cp311/...), which do not exist here, and CMake's
generate step then fails ("Imported target ... includes non-existent path").
This rewrites those two prefixes in every *.cmake file under PREFIX/share to the
running interpreter's include directories. Idempotent (a fixed file no longer
names the old prefix) and cheap: `make setup` runs it before every colcon build.

Usage: python tools/fix_cmake_paths.py [PREFIX]   (default: sys.prefix, the venv)
Exit status: 0 fixed or nothing to fix, 2 an include directory is missing.
Standard library only: it runs before anything of this package is built.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

BUILD_MACHINE_PREFIX = "/opt/python/cp311-cp311/"
BUILD_MACHINE_NUMPY_INCLUDE = BUILD_MACHINE_PREFIX + "lib/python3.11/site-packages/numpy/_core/include"
BUILD_MACHINE_PYTHON_INCLUDE = BUILD_MACHINE_PREFIX + "include/python3.11"


def replacements(numpy_include: str, python_include: str) -> list[tuple[str, str]]:
    """(old, new) pairs, the longer old path first (both share the prefix)."""
    return [(BUILD_MACHINE_NUMPY_INCLUDE, numpy_include), (BUILD_MACHINE_PYTHON_INCLUDE, python_include)]


def fix_cmake_files(share: Path, pairs: list[tuple[str, str]]) -> int:
    """Rewrite every *.cmake file under `share` that names BUILD_MACHINE_PREFIX;
    return how many files changed. Each changed file is replaced atomically (a
    crash mid-write never leaves half a CMake file behind)."""
    fixed = 0
    for directory, _, files in os.walk(share):
        for name in files:
            if not name.endswith(".cmake"):
                continue
            path = Path(directory) / name
            text = path.read_text(encoding="utf-8")
            if BUILD_MACHINE_PREFIX not in text:
                continue
            new_text = text
            for old, new in pairs:
                new_text = new_text.replace(old, new)
            if new_text != text:
                tmp = path.with_name(path.name + ".tmp-fix")
                tmp.write_text(new_text, encoding="utf-8")
                os.replace(tmp, path)
                fixed += 1
    return fixed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    prefix = Path(args[0]) if args else Path(sys.prefix)
    try:
        import numpy
    except ImportError:
        print("fix_cmake_paths: numpy is not installed in this interpreter", file=sys.stderr)
        return 2
    pairs = replacements(numpy.get_include(), sysconfig.get_paths()["include"])
    for _, new in pairs:
        if not os.path.isdir(new):
            print(f"fix_cmake_paths: include dir {new} does not exist (Python headers missing? "
                  f"Debian: apt-get install python3-dev, or a python.org/pyenv build)", file=sys.stderr)
            return 2
    fixed = fix_cmake_files(prefix / "share", pairs)
    if fixed:
        print(f"[setup] fixed build-machine include paths in {fixed} CMake files under {prefix / 'share'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
