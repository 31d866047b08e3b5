"""offline.run_context (RUN): a recorded Ctrl-C/SIGTERM is never lost and never cuts the commit in half."""
from __future__ import annotations

import os
import signal

import pytest

from valence_ros.offline.run_context import RUN, Terminated


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


def test_the_handler_raises_at_once():
    with RUN.handlers_installed():
        with pytest.raises(Terminated):
            _sigterm()
            [None for _ in range(10_000)]   # the handler runs at the next bytecode
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_lost_raise_is_raised_again_by_check():
    with RUN.handlers_installed():
        try:
            _sigterm()
            [None for _ in range(10_000)]
        except Terminated:
            pass   # what CPython may drop: the request stays recorded
        with pytest.raises(Terminated):
            RUN.check()
        with pytest.raises(Terminated):
            with RUN.final_step():
                pytest.fail("the commit ran after SIGTERM")


def test_held_signals_are_raised_after_the_held_step():
    steps = []
    with RUN.handlers_installed():
        with pytest.raises(KeyboardInterrupt):
            with RUN.signals_held():
                os.kill(os.getpid(), signal.SIGINT)
                [None for _ in range(10_000)]
                steps.append("finished")
    assert steps == ["finished"]


def test_after_the_commit_a_signal_no_longer_interrupts():
    with RUN.handlers_installed():
        with RUN.final_step():
            _sigterm()
            [None for _ in range(10_000)]
        _sigterm()
        [None for _ in range(10_000)]
        RUN.check()   # nothing raised: the output is in place


def test_nothing_is_remembered_from_one_run_to_the_next():
    with RUN.handlers_installed():
        with pytest.raises(Terminated):
            with RUN.signals_held():
                _sigterm()
    with RUN.handlers_installed():
        RUN.check()


def test_cleanup_after_a_signal_is_not_interrupted_again():
    with RUN.handlers_installed():
        with pytest.raises(Terminated):
            _sigterm()
            [None for _ in range(10_000)]
        with RUN.signals_held():   # e.g. ending the writer thread in an except clause
            pass
        with pytest.raises(Terminated):
            RUN.check()


def test_files_a_helper_writes_after_abort_are_removed_at_the_end(tmp_path):
    # The writer thread may still be opening the output bag when a signal makes the main
    # thread abort the output: what it creates then must not outlive the run.
    import threading

    from valence_ros.offline.output_dir import OutputDir

    out = OutputDir(tmp_path / "o")
    go = threading.Event()

    def late_writer():
        go.wait(10)
        (out.tmp / "valence_bag").mkdir(parents=True)
        (out.tmp / "valence_bag" / "valence_bag.db3").write_bytes(b"x")

    RUN.start_helper(late_writer, "late-writer")
    out.abort()
    go.set()
    RUN.join_helpers()
    RUN.remove_unfinished()
    assert list(tmp_path.iterdir()) == []
