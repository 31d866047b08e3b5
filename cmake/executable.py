#!/usr/bin/env python3
"""valence_ros executable: runs ENTRY_MODULE:ENTRY_FUNCTION().

Generated from cmake/executable.py by CMakeLists.txt, which puts in the interpreter
CMake found (the shebang) and the entry point (ENTRY_MODULE, ENTRY_FUNCTION). The
template is itself linted; test/package/test_executables.py checks every installed
executable against it.
"""
import sys

from valence_ros.process.stop_requests import install_early

# Before the imports (~0.3 s): a node's SIGINT/SIGTERM is a stop request from here on.
install_early("ENTRY_MODULE")

from ENTRY_MODULE import ENTRY_FUNCTION  # noqa: E402 (after the stop requests)

if __name__ == "__main__":
    sys.exit(ENTRY_FUNCTION())
