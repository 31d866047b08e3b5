"""FaceReader CSV reader: times a ROS stamp cannot hold are rejected rows, not crashes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from valence_ros.offline.facereader_csv import MAX_TIME_NS, FaceReaderCsv

HEADER = "Video Time,Neutral,Happy,Sad,Angry,Surprised,Scared,Disgusted\n"
VALUES = ",0.1,0.6,0.1,0.05,0.05,0.05,0.05\n"

# time cell -> stamp in ns, or None for a bad_time reject
TIMES = {
    "0": 0,
    "00:00:01.5": 1_500_000_000,
    "2147483647.999999999": MAX_TIME_NS,          # sec = 2**31 - 1, the latest ROS stamp
    "2147483648": None,                           # sec = 2**31: does not fit int32
    "1e20": None,                                 # beyond int64 nanoseconds too
    "12345678901234567890": None,                 # 20 digits
    "999999:00:00": None,                         # 3.6e9 s
    "-1.5": None,                                 # the clock / bag log time cannot be negative
    "-1e-9": None,
    "abc": None,
}


def write(path, times):
    path.write_text(HEADER + "".join(t + VALUES for t in times))
    return path


def test_times_outside_ros_time_are_rejected_as_bad_time(tmp_path):
    path = write(tmp_path / "f.csv", TIMES)
    with FaceReaderCsv(path) as reader:
        batches = list(reader.batches(batch_size=3))
    stamps = np.concatenate([b.stamp_ns for b in batches])
    assert stamps.dtype == np.int64
    assert stamps.tolist() == [ns for ns in TIMES.values() if ns is not None]
    assert sum(b.rejected.get("bad_time", 0) for b in batches) == list(TIMES.values()).count(None)
    assert all(set(b.rejected) <= {"bad_time"} for b in batches)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_analyzer_counts_out_of_range_times_instead_of_failing(tmp_path, capsys, storage):
    from valence_ros.offline.analyze import main as analyze
    path = write(tmp_path / "f.csv", ["0.1", "1e20", "0.2", "-3", "3000000000", "0.3"])
    out = tmp_path / "out"
    code = analyze([str(path), "--out", str(out), "--storage", storage, "-q", "--no-plots"])
    assert code == 0, capsys.readouterr().err
    rows = (out / "valence.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [100_000_000, 200_000_000, 300_000_000]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"]["rejected"] == {"bad_time": 3}
