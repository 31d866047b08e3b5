"""`make run`'s demo: the scripted session, and valence_demo end to end.

The end-to-end tests run the INSTALLED valence_demo, which starts the installed
valence_node exactly as the launch file does, and check a newcomer's view: one
line per valence update, Ctrl-C stops everything with exit 0, no traceback,
no process left behind. By default the valence lines are throttled (changes of
state or scene at once, the rest at most 2 lines/s); --all-updates prints each.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from valence_ros.demo.scripted_face import DEFAULT_SCRIPT, ScriptedSession, scene_mean
from valence_ros.core.emotions import EMOTIONS

LINE = re.compile(
    r"^t=\s*(?P<t>\d+\.\d\d)s scene=(?P<scene>\w+)\s+face=(?P<face>'[^']*')\s+"
    r"valence=(?P<valence>[+-]\d\.\d\d) raw=(?P<raw>[+-]\d\.\d\d) "
    r"state=(?P<state>NEGATIVE|NEUTRAL|POSITIVE|-)$")


# --- the scripted session (no ROS needed) ------------------------------------------

def test_session_is_seeded_and_well_formed():
    a, b = ScriptedSession(seed=3), ScriptedSession(seed=3)
    times = np.arange(0, 2 * a.duration, 1 / 15)
    frames_a = np.array([a.probabilities(t) for t in times])
    frames_b = np.array([b.probabilities(t) for t in times])
    assert np.array_equal(frames_a, frames_b)
    assert frames_a.dtype == np.float32 and frames_a.shape[1] == len(EMOTIONS)
    assert np.all(frames_a >= 0) and np.all(frames_a <= 1)
    assert np.allclose(frames_a.sum(axis=1), 1.0, atol=5e-3)
    other = np.array([ScriptedSession(seed=4).probabilities(t) for t in times[:30]])
    assert not np.array_equal(other, frames_a[:30])


def test_session_plays_the_script_in_order_and_loops():
    session = ScriptedSession()
    assert session.duration == pytest.approx(sum(s for _, s in DEFAULT_SCRIPT))
    t = 0.0
    for emotion, seconds in DEFAULT_SCRIPT:
        assert session.scene_at(t + seconds / 2) == emotion
        assert session.scene_at(session.duration + t + seconds / 2) == emotion
        t += seconds
    names = [e for e, _ in DEFAULT_SCRIPT]
    assert names[:4] == ["neutral", "happy", "neutral", "sad"]


def test_each_scene_shows_its_emotion():
    session = ScriptedSession()
    for scene in session.scenes:
        mean = session.mean_at(scene.start + scene.duration / 2)
        assert EMOTIONS[int(np.argmax(mean))] == scene.emotion
    # The very first frame is the first scene's, not a fade from the last one.
    assert EMOTIONS[int(np.argmax(session.mean_at(0.0)))] == DEFAULT_SCRIPT[0][0]
    with pytest.raises(ValueError):
        scene_mean("bored", 0.5)


def test_update_line_format():
    from valence_ros.demo.runner import format_update
    line = format_update(1.234, "happy", "", 0.8123, 0.86, 1)
    assert LINE.match(line), line
    assert "valence=+0.81 raw=+0.86 state=POSITIVE" in line
    assert LINE.match(format_update(12.5, "sad", "f1", -0.5, -1.0, None))


# --- valence_demo end to end --------------------------------------------------------

def _demo_exe() -> str:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        exe = Path(get_package_prefix("valence_ros")) / "lib" / "valence_ros" / "valence_demo"
    except PackageNotFoundError:
        pytest.fail("valence_ros is not in AMENT_PREFIX_PATH: `make test` builds and sources it")
    if importlib.util.find_spec("valence_ros.ros.node") is None:
        pytest.skip("valence_ros.ros.node is not in the install space yet")
    return str(exe)


def _marked_params_file(tmp_path: Path) -> Path:
    """A copy of the installed params file whose unique path marks our node process."""
    from ament_index_python.packages import get_package_share_directory
    src = Path(get_package_share_directory("valence_ros")) / "config" / "valence.yaml"
    dst = tmp_path / f"valence_demo_test_{os.getpid()}_{time.monotonic_ns()}.yaml"
    shutil.copyfile(src, dst)
    return dst


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace")
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry))
    return found


def _check_lines(output: str, minimum: int) -> list[re.Match]:
    matches = [m for m in map(LINE.match, output.splitlines()) if m]
    assert len(matches) >= minimum, output[-4000:]
    for m in matches:
        assert -1.0 <= float(m["valence"]) <= 1.0
        assert -1.0 <= float(m["raw"]) <= 1.0
    return matches


@pytest.mark.ros
def test_demo_runs_for_a_duration_and_cleans_up(tmp_path):
    exe = _demo_exe()
    params = _marked_params_file(tmp_path)
    result = subprocess.run([exe, "--duration", "4", "--rate", "20", "--all-updates",
                             "--params-file", str(params)],
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert "valence_ros demo" in output and "stops after 4 s" in output
    matches = _check_lines(result.stdout, 40)
    assert {m["scene"] for m in matches} >= {"neutral", "happy"}
    assert _processes_with(params.name) == [], "valence_node left running"


SUMMARY = re.compile(r"(?P<updates>\d+) valence updates received \((?P<printed>\d+) printed\)")


@pytest.mark.ros
def test_demo_throttles_steady_lines_but_prints_changes_at_once(tmp_path):
    exe = _demo_exe()
    params = _marked_params_file(tmp_path)
    # One steady line per 5 s, so a change printed at once is far from any steady line.
    seconds, rate, per_second = 6.0, 20, 0.2
    result = subprocess.run([exe, "--duration", str(seconds), "--rate", str(rate), "--no-tree",
                             "--lines-per-second", str(per_second), "--params-file", str(params)],
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    matches = _check_lines(result.stdout, 3)   # the first line, the scene change at 3 s, its state change
    summary = SUMMARY.search(result.stdout)
    assert summary, output[-4000:]
    updates, shown = int(summary["updates"]), int(summary["printed"])
    assert shown == len(matches) and updates >= 3 * shown, output[-4000:]
    changes = sum(1 for a, b in zip(matches, matches[1:])
                  if (a["scene"], a["state"]) != (b["scene"], b["state"]))
    # Besides the changes, at most one line per 5 s of wall clock (the run lasts ~6.5 s).
    assert shown <= 2 + changes + per_second * (seconds + 1.5), output[-4000:]
    # The script's second scene (happy) starts at 3.0 s: its first frame is printed at once,
    # not with the next steady line (~5 s).
    first_happy = next(float(m["t"]) for m in matches if m["scene"] == "happy")
    assert 3.0 <= first_happy <= 4.0, output[-4000:]
    assert _processes_with(params.name) == [], "valence_node left running"


@pytest.mark.ros
def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    exe = _demo_exe()
    params = _marked_params_file(tmp_path)
    proc = subprocess.Popen([exe, "--all-updates", "--params-file", str(params)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    lines: list[str] = []
    first_update = threading.Event()

    def reader():
        for line in proc.stdout:
            lines.append(line)
            if LINE.match(line.rstrip("\n")):
                first_update.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        assert first_update.wait(60), "no valence line within 60 s:\n" + "".join(lines)[-4000:]
        assert _processes_with(params.name), "the demo did not start valence_node"
        time.sleep(1.0)
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    thread.join(5)
    output = "".join(lines)
    assert code == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert "[demo] stopped (SIGINT)" in output
    _check_lines(output, 10)
    deadline = time.monotonic() + 5
    while _processes_with(params.name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(params.name) == [], "valence_node left running after Ctrl-C"
