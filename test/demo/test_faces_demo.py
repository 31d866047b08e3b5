"""`make run DEMO=faces`: the installed valence_faces_demo end to end (real photographs ->
valence_fer_node -> valence_node -> valence_bt_demo), as a newcomer sees it."""
from __future__ import annotations

import re
import subprocess

import pytest
from helpers.install import installed_share_dir, require_install

pytestmark = pytest.mark.ros

LINE = re.compile(r"^t=\s*\d+\.\d\ds scene=(?P<scene>\w+)\s+face=(?P<face>face_\d+)\s+"
                  r"fer=(?P<fer>\w+|\?)[ .0-9]*valence=(?P<valence>[+-]\d\.\d\d) raw=[+-]\d\.\d\d "
                  r"state=(?P<state>NEGATIVE|NEUTRAL|POSITIVE|-)$")


def test_faces_demo_once_shows_neutral_then_smile_and_stops_cleanly():
    require_install()
    exe = installed_share_dir().parents[1] / "lib" / "valence_ros" / "valence_faces_demo"
    done = subprocess.run([str(exe), "--once"], capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    assert lines, out[-3000:]
    grace = [m for m in lines if m["scene"] == "grace_hopper" and m["fer"] != "?"]
    smile = [m for m in lines if m["scene"] == "astronaut" and m["state"] == "POSITIVE"]
    assert grace and all(m["fer"] == "neutral" for m in grace[:3]), out[-3000:]
    assert smile and any(m["fer"] == "happy" and float(m["valence"]) > 0.5 for m in smile)
    reactions = re.findall(r">>> robot reaction: (\w+)", out)
    assert "attend" in reactions and "smile" in reactions, reactions
    assert reactions.index("attend") < reactions.index("smile")
    assert re.search(r"exit codes valence_bt_demo 0, valence_node 0, valence_fer_node 0", out), out[-500:]
    assert "Traceback" not in out + done.stderr
