"""The process-wide state of valence_analyze runs, in one object: ``RUN``.

``RunContext`` holds what a run coordinates across modules - its Ctrl-C/SIGTERM
handling, the helper threads it started, the output directories it has not
committed - and ``RUN`` is the process's one instance (signal handlers are per
process). analyze.main() wraps a run in ``RUN.scope()``; the modules doing the work
use its methods: session and threads start helpers with ``RUN.start_helper``, the
batch loop calls ``RUN.check()``, output_dir registers its temporary directory and
claim and commits in ``RUN.final_step()``, the study pool starts workers inside
``RUN.signals_held()``.

Signals. Ctrl-C and SIGTERM stop valence_analyze at once, and never commit after
either. The handlers raise (KeyboardInterrupt, Terminated) so that a long wait ends at
once. An exception raised by a Python signal handler can be lost, though: CPython
drops it when the signal lands while compile() runs inside an import (seen in 2 of 14
runs; the analysis then ran to the end and exited 0). So each handler also records the
request, and check() raises it again: at every batch, and in final_step(), which
renames the finished output into place with both signals held back, so a signal lands
either before it (no output, exit 130/143) or after it (the output is complete; the
run ends normally).

How the three kinds of valence_ros process differ in signal handling, and why:
  * valence_analyze (here): raising handlers, as above. Its long computations (numpy,
    sqlite, the per-frame loop) have no loop that polls every 0.1 s, so a stop must
    interrupt them; it exits 130/143, not 0, because the run did not finish.
  * the study pool (study_pool.py): the parent is a valence_analyze run like any other
    (RUN, raising handlers; it polls RUN.check() between waits and terminates its
    workers when a signal unwinds it); its worker processes ignore SIGINT, because a
    terminal's Ctrl-C reaches the whole process group and only the parent decides how
    the study stops, and take SIGTERM's default from the parent's terminate().
  * the nodes and the demo programs (valence_ros.process.stop_requests, used by
    ros/executor.py): signals are only recorded as stop requests and their loops poll
    them, because a node must publish its last words (UNKNOWN for every face) and exit 0,
    so a signal must not unwind it in the middle of a callback.

Helper threads. Every helper thread is started by start_helper(): not a daemon, and
tracked, so valence_analyze joins them all (join_helpers) before it returns. A daemon
thread still running at interpreter exit (the model loader importing safetensors'
native module when a bad bag ended the run in milliseconds) is frozen or killed by the
interpreter's finalisation inside native code: that crashed 2-8 % of the runs on a
0-byte .db3 with SIGSEGV or SIGABRT ("FATAL: exception not rethrown") after the right
error line.

Unfinished outputs. Output directories (output_dir.OutputDir) register their
temporary directory and their claim (lock) here; remove_unfinished(), the last step
of a run after its helpers are joined, removes every one not committed (an interrupted
run may not have reached abort(), and a helper may have written into an aborted one).
"""
from __future__ import annotations

import shutil
import signal
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol

__all__ = ["RUN", "RunContext", "Terminated"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM: unwind (removing the temporary output) and exit 143."""


class _Claim(Protocol):
    def release(self) -> None: ...


class RunContext:
    """Signals, helper threads and unfinished outputs of the valence_analyze runs of this
    process (see the module docstring). Use the process's instance, RUN."""

    def __init__(self) -> None:
        # signals
        self._requested: type[BaseException] | None = None
        self._received = 0       # signals handled so far
        self._holding = False    # inside signals_held(): record only
        self._finished = False   # the output is in place: nothing left to interrupt
        # helper threads -> their stop() (or None)
        self._helpers: weakref.WeakKeyDictionary[threading.Thread, Callable[[], None] | None] = \
            weakref.WeakKeyDictionary()
        # outputs
        self._unfinished: set[Path] = set()   # DIR.tmp-XXXX not yet committed (aborted ones included)
        self._claims: set[_Claim] = set()     # output directories this run holds

    # ------------------------------------------------------------------ a whole run

    @contextmanager
    def scope(self) -> Iterator[None]:
        """A run of valence_analyze: the signal handlers installed while the body runs;
        then every helper thread joined (none may outlive main() into interpreter exit)
        and every output not committed removed."""
        with self.handlers_installed():
            try:
                yield
            finally:
                self.join_helpers()
                self.remove_unfinished()

    # ------------------------------------------------------------------ signals

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._finished:
            return
        self._received += 1
        self._requested = KeyboardInterrupt if signum == signal.SIGINT else Terminated
        if not self._holding:
            raise self._requested()

    @contextmanager
    def handlers_installed(self) -> Iterator[None]:
        """SIGINT/SIGTERM handled as above while the body runs (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._requested, self._finished = None, False
        previous = {s: signal.signal(s, self._on_signal) for s in _SIGNALS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._requested, self._finished = None, False

    def check(self) -> None:
        """Raise the interrupt a handler recorded (even if its own raise was lost)."""
        if self._requested is not None and not self._finished:
            raise self._requested()

    def stop_interrupting(self) -> None:
        """From now on a signal no longer interrupts (the run is ending anyway)."""
        self._finished = True

    @contextmanager
    def signals_held(self) -> Iterator[None]:
        """While the body runs, SIGINT/SIGTERM are only recorded, and raised after it if one
        arrived meanwhile. For steps an exception must not cut in half, such as starting a
        worker process; cleanup that runs after an earlier signal is not interrupted again.
        (A flag, not the signal mask: the kernel may hand the signal to any thread.)"""
        if threading.current_thread() is not threading.main_thread():   # handlers run in the main thread
            yield
            return
        outer, before = self._holding, self._received
        self._holding = True
        try:
            yield
        finally:
            self._holding = outer
        if not outer and self._received != before:
            self.check()

    @contextmanager
    def final_step(self) -> Iterator[None]:
        """The commit (renaming the finished output into place): check() first, then the
        body with the signals held; once it is done, a signal no longer interrupts the run."""
        self.check()
        with self.signals_held():   # its closing check() sees _finished and raises nothing
            yield
            self._finished = self._finished or threading.current_thread() is threading.main_thread()

    # ------------------------------------------------------------------ helper threads

    def start_helper(self, target: Callable[..., object], name: str, args: tuple = (),
                     stop: Callable[[], None] | None = None) -> threading.Thread:
        """Start a (non-daemon) helper thread that join_helpers() will wait for;
        `stop()`, if given, asks it to end early."""
        def run() -> None:
            try:
                target(*args)
            finally:
                # A finished helper needs no stop(); and its entry must go: `stop` refers
                # to the thread's owner, which refers to the thread (the key), so the weak
                # key alone would never let go (a study worker would keep every input's
                # sink and statistics).
                self._helpers.pop(threading.current_thread(), None)

        thread = threading.Thread(target=run, name=name, daemon=False)
        with self.signals_held():   # registered and started, or neither
            self._helpers[thread] = stop
            thread.start()
        return thread

    def join_helpers(self) -> None:
        """Stop and wait for every helper thread still running."""
        for thread, stop in list(self._helpers.items()):
            if thread is threading.current_thread() or not thread.is_alive():
                continue
            if stop is not None:
                stop()
            thread.join()

    # ------------------------------------------------------------------ unfinished outputs

    def add_claim(self, claim: _Claim) -> None:
        """An output directory's claim, released by release_claim() or remove_unfinished()."""
        self._claims.add(claim)

    def release_claim(self, claim: _Claim) -> None:
        claim.release()
        self._claims.discard(claim)

    def add_unfinished(self, tmp: Path) -> None:
        """A temporary output directory, removed by remove_unfinished() unless committed()."""
        self._unfinished.add(tmp)

    def committed(self, tmp: Path) -> None:
        """`tmp` was renamed into place: it is no longer to be removed."""
        self._unfinished.discard(tmp)

    def remove_unfinished(self) -> None:
        """Remove every temporary output directory not committed and release every claim:
        the last step of a run, after its helper threads are joined (an interrupted run
        may not have reached abort(), and a helper may have written into an aborted one)."""
        for tmp in list(self._unfinished):
            shutil.rmtree(tmp, ignore_errors=True)
            self._unfinished.discard(tmp)
        for claim in list(self._claims):
            claim.release()
            self._claims.discard(claim)


# The process's one RunContext (signal handlers are per process).
RUN = RunContext()
