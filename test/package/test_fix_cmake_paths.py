"""tools/fix_cmake_paths.py (make setup's fix for the ROS wheels' CMake files), on a
scratch share/ laid out like the wheels': real files, the real script as a process."""
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "fix_cmake_paths.py"
OLD_NUMPY = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"
OLD_PYTHON = "/opt/python/cp311-cp311/include/python3.11"


def _run(prefix: Path):
    return subprocess.run([sys.executable, str(SCRIPT), str(prefix)], capture_output=True, text=True, timeout=60)


def _lay_out(prefix: Path) -> dict:
    target = prefix / "share" / "std_msgs" / "cmake" / "std_msgsExport.cmake"
    target.parent.mkdir(parents=True)
    target.write_text(f'INTERFACE_INCLUDE_DIRECTORIES "{OLD_PYTHON};{OLD_NUMPY};/usr/include"\n')
    clean = prefix / "share" / "other" / "cmake" / "otherConfig.cmake"
    clean.parent.mkdir(parents=True)
    clean.write_text("set(other_FOUND TRUE)\n")
    not_cmake = prefix / "share" / "std_msgs" / "notes.txt"
    not_cmake.write_text(OLD_PYTHON + "\n")
    return {"target": target, "clean": clean, "not_cmake": not_cmake}


def test_rewrites_both_include_dirs_once_and_touches_nothing_else(tmp_path):
    files = _lay_out(tmp_path)
    before = {name: path.read_text() for name, path in files.items()}
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "fixed build-machine include paths in 1 CMake files" in proc.stdout
    text = files["target"].read_text()
    assert "/opt/python" not in text
    assert f'"{sysconfig.get_paths()["include"]};{numpy.get_include()};/usr/include"' in text
    assert files["clean"].read_text() == before["clean"]
    assert files["not_cmake"].read_text() == before["not_cmake"]      # only *.cmake files
    assert not list(tmp_path.rglob("*.tmp-fix"))
    again = _run(tmp_path)                                              # idempotent, and quiet
    assert again.returncode == 0 and again.stdout == "" and files["target"].read_text() == text


def test_missing_include_dir_is_an_error_that_says_which(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import fix_cmake_paths
    finally:
        sys.path.remove(str(SCRIPT.parent))
    files = _lay_out(tmp_path)
    pairs = fix_cmake_paths.replacements(str(tmp_path / "numpy"), str(tmp_path / "python"))
    assert fix_cmake_paths.fix_cmake_files(tmp_path / "share", pairs) == 1
    assert str(tmp_path / "numpy") in files["target"].read_text()
    # a venv whose interpreter has no headers: exit 2, the directory named, nothing changed
    code = ("import sys, sysconfig; sys.path.insert(0, sys.argv[1]); import fix_cmake_paths as f; "
            "sysconfig.get_paths = lambda: {'include': '/nonexistent/include'}; sys.exit(f.main([sys.argv[2]]))")
    other = tmp_path / "other_prefix"
    fresh = _lay_out(other)
    proc = subprocess.run([sys.executable, "-c", code, str(SCRIPT.parent), str(other)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "/nonexistent/include does not exist" in proc.stderr
    assert OLD_PYTHON in fresh["target"].read_text()
