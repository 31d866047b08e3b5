"""state_min_duration live == offline: the node and valence_analyze, one params file, same frames.

The node gets the frames over DDS; valence_analyze reads the same frames from a
FaceReader-style CSV (time column = header stamps) with the same params file. The
state sequences must be equal, and the debouncing must have swallowed the short
excursions of the script (so the test would fail without it).
"""
from __future__ import annotations

import csv

import pytest

from helpers.inputs import HAPPY, NEUTRAL, SAD
from helpers.ros_clients import NodeSession
from valence_ros.offline.analyze import main as analyze

pytestmark = pytest.mark.ros

MS = 1_000_000
CANONICAL = ("Neutral", "Happy", "Sad", "Angry", "Surprised", "Scared", "Disgusted")
# (expression, frames at 10 Hz): 0.2 s excursions are shorter than state_min_duration 0.3 s.
SCRIPT = [(NEUTRAL, 5), (HAPPY, 2), (NEUTRAL, 5), (HAPPY, 8), (NEUTRAL, 5), (SAD, 2), (NEUTRAL, 3),
          (SAD, 8), (HAPPY, 6)]


def frames():
    k = 0
    for probabilities, n in SCRIPT:
        for _ in range(n):
            yield k * 100 * MS, [float(f"{p:.6f}") for p in probabilities]
            k += 1


def test_debounced_states_equal_live_and_offline(tmp_path, ros_client, node_process):
    params = tmp_path / "params.yaml"
    params.write_text("/**/valence_node:\n  ros__parameters:\n    state_min_duration: 0.3\n"
                      "    smoothing_time_constant: 0.0\n    face_timeout: 60.0\n"
                      "    input_qos_reliability: reliable\n    input_qos_depth: 100\n")
    process = node_process(params_file=params)
    session = NodeSession(ros_client, process)
    S = session.msg.ValenceState
    try:
        sent = list(frames())
        for stamp_ns, probabilities in sent:
            session.send(probabilities, stamp_ns=stamp_ns)
        session.wait_valence("", len(sent))
        live = [(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m.state)
                for m in session.states_of("")]
    finally:
        session.close()

    table = tmp_path / "session.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time_s", *CANONICAL])
        for stamp_ns, probabilities in sent:
            writer.writerow([f"{stamp_ns / 1e9:.3f}", *(f"{p:.6f}" for p in probabilities)])
    out = tmp_path / "analysis"
    assert analyze([str(table), "--params-file", str(params), "--out", str(out), "-q", "--no-plots"]) == 0
    with open(out / "valence.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(sent)
    offline, last = [], None
    for r in rows:
        if int(r["state"]) != last:
            last = int(r["state"])
            offline.append((int(r["stamp_ns"]), last))

    assert live == offline
    # debounced: the 0.2 s excursions left no state; each long expression entered its
    # state 0.3 s after its first frame asked for it
    assert [state for _, state in live] == [S.NEUTRAL, S.POSITIVE, S.NEUTRAL, S.NEGATIVE, S.POSITIVE]
    assert live[1][0] == (5 + 2 + 5 + 3) * 100 * MS
