"""What the README and docs/ show a user is what the package does: the diagnostics keys
listed equal those a real node publishes, the README's behaviour-tree example ticks a real
tree against real ValenceState messages, and docs/offline-analysis.md's rosbags Writer
example writes a bag that valence_analyze reads."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.ros_clients import NodeSession

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
NODE_DOC = REPO / "docs" / "node.md"
KEY = re.compile(r"[a-z][a-z0-9_]*(<reason>)?")
OPTIONAL_GROUPS = ("ROS4HRI", "`valence_lifecycle_node`")   # keys only with those features


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^#{1,3} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def backticked_keys(text: str) -> set[str]:
    text = re.sub(r"\([^()]*\)", "", text)   # explanations in parentheses name other things
    return {token for token in re.findall(r"`([^`]+)`", text) if KEY.fullmatch(token)}


def documented_diagnostics() -> tuple[set[str], set[str]]:
    """(keys of a plain valence_node, keys that need ROS4HRI or the lifecycle node) from
    docs/node.md's Diagnostics table."""
    always, optional = set(), set()
    for line in section(NODE_DOC.read_text(encoding="utf-8"), "## Diagnostics").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("group", "---"):
            continue
        (optional if cells[0].startswith(OPTIONAL_GROUPS) else always).update(backticked_keys(cells[1]))
    return always, optional


def documented_reject_reasons() -> set[str]:
    table = section(NODE_DOC.read_text(encoding="utf-8"), "### Rejected frames")
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


def test_readme_lists_the_diagnostics_keys_of_docs_node_md():
    readme = README.read_text(encoding="utf-8")
    paragraph = readme[readme.index("**Diagnostics**"):]
    paragraph = paragraph[:paragraph.index("\n\n")]
    always, optional = documented_diagnostics()
    listed = {token for token in re.findall(r"`([^`]+)`", paragraph) if KEY.fullmatch(token)}
    assert listed == always | optional


def test_optional_diagnostics_keys_exist_in_the_code():
    _, optional = documented_diagnostics()
    source = "".join(p.read_text(encoding="utf-8") for p in (REPO / "valence_ros" / "ros").glob("*.py"))
    assert optional and all(f'"{key}"' in source for key in optional), optional


@pytest.mark.ros
def test_a_running_node_publishes_exactly_the_documented_keys(ros_client, node_process):
    process = node_process({"diagnostics_period": 0.2})
    session = NodeSession(ros_client, process)
    try:
        published = set(session.latest_diagnostics()) - {"level", "message"}
    finally:
        session.close()
    always, _ = documented_diagnostics()
    reasons = {key[len("rejected_"):] for key in published
               if key.startswith("rejected_") and key not in ("rejected_total", "rejected_in_window")}
    assert reasons == documented_reject_reasons()
    expected = (always - {"rejected_<reason>"}) | {f"rejected_{reason}" for reason in reasons}
    assert published == expected, (f"published, not documented: {sorted(published - expected)}; "
                                    f"documented, not published: {sorted(expected - published)}")


def python_block_after(text: str, marker: str) -> str:
    start = text.index(marker)
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block after {marker!r}"
    return match.group(1)


@pytest.mark.ros
def test_readme_behaviour_tree_example_reacts_to_valence_state(ros_client):
    """The README's tree, run as written except that the test ticks instead of spinning
    forever; a real ValenceState publisher (transient local, as the node's) drives it."""
    code = python_block_after(README.read_text(encoding="utf-8"), "## Behaviour trees")
    assert code.count("\n") <= 16, "the README promises a short example"
    assert code.rstrip().endswith("rclpy.spin(node)")
    script = (code.rstrip()[:-len("rclpy.spin(node)")] + '''
import time
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
qos = QoSProfile(depth=32, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
pub = node.create_publisher(S, "valence_state", qos)
def reaction():
    return py_trees.blackboard.Blackboard.storage.get("/reaction")
def run_until(wanted, seconds=20.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
        if reaction() == wanted:
            return
    raise SystemExit(f"no {wanted!r} reaction; last: {reaction()!r}")
end = time.monotonic() + 0.5   # a few ticks with nobody there
while time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
assert tree.count > 0 and reaction() is None
assert tree.root.status == py_trees.common.Status.FAILURE, tree.root.status
msg = S(face_id="p1", state=S.POSITIVE, valence=0.8)
msg.header.stamp = node.get_clock().now().to_msg()
pub.publish(msg)
run_until("smile")
msg = S(face_id="p1", state=S.NEGATIVE, valence=-0.8)
msg.header.stamp = node.get_clock().now().to_msg()
pub.publish(msg)
run_until("comfort")   # after min_duration=1.0 s of NEGATIVE
print("REACTIONS OK")
''')
    # -P: import the installed package, not the source tree
    result = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "REACTIONS OK" in result.stdout, result.stdout + result.stderr


def test_offline_analysis_writer_example_gives_a_bag_valence_analyze_reads(tmp_path):
    code = python_block_after((REPO / "docs" / "offline-analysis.md").read_text(encoding="utf-8"),
                              "### Writing a bag from Python")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=120)
    result = subprocess.run([sys.executable, "-m", "valence_ros.offline.analyze", "session1",
                             "--out", "out", "--no-plots", "-q"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out" / "valence.csv").read_text().splitlines()
    assert rows[0].startswith("stamp_ns,face_id,valence,raw_valence,state")
    assert len(rows) == 301 and all(",p01," in row for row in rows[1:])
    assert rows[-1].endswith(",1"), "a clearly happy face ends POSITIVE"
