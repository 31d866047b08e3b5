"""valence_analyze against hostile inputs, as real processes (issue 11, defects 3 and 4).

Every input path the tool takes - the BAG argument (bag directory, the files inside it,
.db3/.mcap/CSV), --params-file, and the model_path and config.json the params file points
to - given a FIFO, a device, a sparse multi-GB file, an empty file or a code-carrying
pickle: one line on stderr, exit code 2, no output directory, nothing executed, no hang;
and the same exit code on every repeated run (a 0-byte .db3 used to crash 2-8 % of the
runs at interpreter exit, after the right error line).

VALENCE_SOAK=1 (make soak) repeats every run more often (5 and 200 times).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers.hostile_files import make_fifo, make_sparse, model_files
from test_analyze_cli import ep_topic, no_leftovers, session, write_bag

SOAK = os.environ.get("VALENCE_SOAK") == "1"
REPEATS = 5 if SOAK else 1              # runs of every hostile case
EMPTY_DB3_RUNS = 200 if SOAK else 30     # runs of the case that crashed at exit
PROCESS_TIMEOUT = 120                    # s; a FIFO that blocks fails the test instead of hanging it


def analyze(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        return subprocess.run([sys.executable, "-m", "valence_ros.offline.analyze", *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"valence_analyze {' '.join(map(str, args))} hung for {PROCESS_TIMEOUT} s")


def _bag(path: Path, storage: str) -> Path:
    return write_bag(path, storage, {"/emotion_probabilities": ep_topic(session(20, faces=("a",)))})


def _storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".db3", ".mcap"))


def _params(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def hostile_cases(work: Path) -> dict[str, list]:
    """case -> the analyser's arguments (before --out)."""
    good = _bag(work / "good", "mcap")
    cases: dict[str, list] = {}
    for suffix in (".mcap", ".db3", ".csv"):
        cases[f"fifo{suffix}"] = [make_fifo(work / f"pipe{suffix}")]
        cases[f"sparse{suffix}"] = [make_sparse(work / f"huge{suffix}")]
        (work / f"empty{suffix}").write_bytes(b"")
        cases[f"empty{suffix}"] = [work / f"empty{suffix}"]
    cases["dev_zero"] = [Path("/dev/zero")]
    cases["dev_null"] = [Path("/dev/null")]
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(work / "sock.mcap"))
    sock.close()   # the socket file stays
    cases["socket"] = [work / "sock.mcap"]
    (work / "binary.csv").write_bytes(b"\x00\x01\x02garbage\x00" * 1000)
    cases["nul_bytes.csv"] = [work / "binary.csv"]
    for storage in ("sqlite3", "mcap"):
        bag = _bag(work / f"fifo_storage_{storage}", storage)
        target = _storage_file(bag)
        target.unlink()
        make_fifo(target)
        cases[f"bag_with_fifo_{storage}_file"] = [bag]
        bag = _bag(work / f"dev_storage_{storage}", storage)
        target = _storage_file(bag)
        target.unlink()
        os.symlink("/dev/zero", target)
        cases[f"bag_with_{storage}_file_linked_to_dev_zero"] = [bag]
    bag = _bag(work / "fifo_meta", "mcap")
    (bag / "metadata.yaml").unlink()
    cases["bag_with_fifo_metadata"] = [make_fifo(bag / "metadata.yaml").parent]
    bag = _bag(work / "sparse_meta", "mcap")
    (bag / "metadata.yaml").unlink()
    cases["bag_with_sparse_metadata"] = [make_sparse(bag / "metadata.yaml").parent]
    cases["params_fifo"] = [good, "--params-file", make_fifo(work / "pipe.yaml")]
    cases["params_dev_zero"] = [good, "--params-file", "/dev/zero"]
    cases["params_directory"] = [good, "--params-file", work]
    cases["params_sparse"] = [good, "--params-file", make_sparse(work / "huge.yaml")]
    cases["params_ros_parameters_scalar"] = [
        good, "--params-file", _params(work / "scalar.yaml", "/**:\n  ros__parameters: 5\n")]
    cases["params_node_entry_list"] = [
        good, "--params-file", _params(work / "list.yaml", "/**: [1, 2]\n")]
    models = model_files(work / "models")
    for name in ("fifo_safetensors", "link_to_fifo", "dev_zero", "sparse_pt", "code_pickle_bin",
                 "code_pickle_pt", "nan_safetensors", "fifo_config_json", "directory_with_fifo_weights"):
        yaml = _params(work / f"model_{name}.yaml",
                       f"/**:\n  ros__parameters:\n    model_path: '{models[name]}'\n")
        cases[f"model_path_{name}"] = [good, "--params-file", yaml]
    return cases


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    pytest.importorskip("torch", reason="the hostile model files are torch.save files (the [torch] extra)")
    work = tmp_path_factory.mktemp("hostile_inputs")
    yield work, hostile_cases(work)
    assert not (work / "models" / "MARKER").exists(), "a pickle ran code"


def _check(work: Path, case: str, args: list, run: int) -> str | None:
    """None if the run behaved; else what went wrong."""
    out = work / "outputs" / f"{case}-{run}"
    proc = analyze(*args, "--out", out, "-q")
    lines = proc.stderr.splitlines()
    if proc.returncode != 2 or len(lines) != 1 or not lines[0].startswith("valence_analyze: error: "):
        return f"{case} run {run}: exit {proc.returncode}, stderr {proc.stderr!r}"
    if not no_leftovers(out.parent, out.name):
        return f"{case} run {run}: output directory left behind"
    if case in NAMED and NAMED[case] not in lines[0]:
        return f"{case}: the error does not say {NAMED[case]!r}: {lines[0]}"
    return None


def test_every_hostile_input_one_line_exit_2_no_output_every_run(hostile):
    work, cases = hostile
    (work / "outputs").mkdir()
    assert set(NAMED) <= set(cases)
    jobs = [(case, args, run) for run in range(REPEATS) for case, args in sorted(cases.items())]
    with ThreadPoolExecutor(max_workers=2) as pool:   # 2 cores
        problems = [p for p in pool.map(lambda job: _check(work, *job), jobs) if p]
    assert not problems, "\n".join(problems)
    assert not any((work / "outputs").iterdir())


NAMED = {  # case -> what its one line must say
    "fifo.mcap": "input is a named pipe (FIFO)", "dev_zero": "input is a character device",
    "socket": "input is a socket", "sparse.csv": "a line longer than",
    "bag_with_fifo_sqlite3_file": "bag storage file is a named pipe",
    "bag_with_mcap_file_linked_to_dev_zero": "bag storage file is a character device",
    "bag_with_sparse_metadata": "bag metadata is 3072 MiB; the limit is 16 MiB",
    "params_fifo": "params file is a named pipe", "params_sparse": "params file is 3072 MiB",
    "params_ros_parameters_scalar": "ros__parameters holds the scalar '5'",
    "model_path_fifo_safetensors": "weights path is a named pipe",
    "model_path_code_pickle_pt": "refused: the pickle references code",
    "model_path_fifo_config_json": "config.json is a named pipe",
}


def test_zero_byte_db3_exits_2_on_every_run(tmp_path):
    """The crash at exit: the model-loader thread was still importing safetensors' native
    module when the bag error ended main(); interpreter finalisation then crashed it."""
    (tmp_path / "empty.db3").write_bytes(b"")

    def once(run):
        proc = analyze(tmp_path / "empty.db3", "--out", tmp_path / f"o{run}", "-q")
        return proc.returncode, proc.stderr
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(once, range(EMPTY_DB3_RUNS)))
    codes = {}
    for code, _ in results:
        codes[code] = codes.get(code, 0) + 1
    assert codes == {2: EMPTY_DB3_RUNS}, codes
    assert all(stderr.count("\n") == 1 and "cannot open bag" in stderr for _, stderr in results)


HELPERS_AFTER_MAIN = """
import sys, threading
from valence_ros.offline.analyze import main
for argv in {cases!r}:
    code = main(argv)
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(code, alive, flush=True)
"""


def test_no_helper_thread_outlives_main(tmp_path):
    """Deterministic form of the exit crash: after main() returns - on a bad bag, with the
    shipped weights or with a model_path file that makes the loader import torch for ~1 s -
    no helper thread may still be running into interpreter shutdown."""
    pytest.importorskip("torch", reason="one case loads .pt weights (the [torch] extra)")
    from helpers.hostile_files import good_torch_weights
    (tmp_path / "empty.db3").write_bytes(b"")
    weights = good_torch_weights(tmp_path / "m" / "w.pt")
    params = _params(tmp_path / "p.yaml", f"/**:\n  ros__parameters:\n    model_path: '{weights}'\n")
    good = _bag(tmp_path / "good", "sqlite3")
    cases = [[str(tmp_path / "empty.db3"), "--params-file", str(params), "--out", str(tmp_path / "o1")],
             [str(tmp_path / "empty.db3"), "--out", str(tmp_path / "o2")],
             [str(good), "--topic", "/nope", "--params-file", str(params), "--out", str(tmp_path / "o3")],
             [str(good), "--out", str(tmp_path / "o4"), "-q", "--no-plots"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", HELPERS_AFTER_MAIN.format(cases=cases)],
                          capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT)
    lines = [line for line in proc.stdout.splitlines() if line[:2] in ("0 ", "2 ")]
    assert lines == ["2 []", "2 []", "2 []", "0 []"], (proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(tmp_path / "o4")


def test_study_of_hostile_inputs_fails_each_in_one_line_and_goes_on(hostile):
    """Several inputs (a study, issue 13): each hostile one is one FAILED line, the good one
    is analysed, exit code 3 - and nothing blocks."""
    work, cases = hostile
    good = work / "good"
    bad = ["fifo.mcap", "dev_zero", "sparse.db3", "sparse.csv", "bag_with_fifo_mcap_file", "socket"]
    proc = analyze(good, *(cases[name][0] for name in bad), "--out", work / "study_out", "-q")
    failed = [line for line in proc.stderr.splitlines() if ": FAILED: " in line]
    assert proc.returncode == 3 and len(failed) == len(bad), proc.stderr
    assert (work / "study_out" / "sessions.csv").is_file()
    shutil.rmtree(work / "study_out")
