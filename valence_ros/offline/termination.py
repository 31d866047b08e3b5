"""Ctrl-C and SIGTERM for valence_analyze: stop at once, and never commit after either.

The handlers raise (KeyboardInterrupt, Terminated) so that a long wait ends at
once. An exception raised by a Python signal handler can be lost, though:
CPython drops it when the signal lands while compile() runs inside an import
(seen in 2 of 14 runs; the analysis then ran to the end and exited 0). So each
handler also records the request, and check() raises it again: at every batch,
and in final_step(), which renames the finished output into place with both
signals held back, so a signal lands either before it (no output, exit 130/143)
or after it (the output is complete; the run ends normally).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["Terminated", "handlers_installed", "check", "final_step", "signals_held", "stop_interrupting"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM: unwind (removing the temporary output) and exit 143."""


_requested: type[BaseException] | None = None
_received = 0       # signals handled so far
_holding = False    # inside signals_held(): record only
_finished = False   # the output is in place: nothing left to interrupt


def _on_signal(signum, frame) -> None:
    global _requested, _received
    if _finished:
        return
    _received += 1
    _requested = KeyboardInterrupt if signum == signal.SIGINT else Terminated
    if not _holding:
        raise _requested()


@contextmanager
def handlers_installed() -> Iterator[None]:
    """SIGINT/SIGTERM handled as above while the body runs (main thread only)."""
    global _requested, _finished
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested, _finished = None, False
    previous = {s: signal.signal(s, _on_signal) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _requested, _finished = None, False


def check() -> None:
    """Raise the interrupt a handler recorded (even if its own raise was lost)."""
    if _requested is not None and not _finished:
        raise _requested()


def stop_interrupting() -> None:
    """From now on a signal no longer interrupts (the run is ending anyway)."""
    global _finished
    _finished = True


@contextmanager
def signals_held() -> Iterator[None]:
    """While the body runs, SIGINT/SIGTERM are only recorded, and raised after it if one
    arrived meanwhile. For steps an exception must not cut in half, such as starting a
    worker process; cleanup that runs after an earlier signal is not interrupted again.
    (A flag, not the signal mask: the kernel may hand the signal to any thread.)"""
    global _holding
    if threading.current_thread() is not threading.main_thread():   # handlers run in the main thread
        yield
        return
    outer, before = _holding, _received
    _holding = True
    try:
        yield
    finally:
        _holding = outer
    if not outer and _received != before:
        check()


@contextmanager
def final_step() -> Iterator[None]:
    """The commit (renaming the finished output into place): check() first, then the
    body with the signals held; once it is done, a signal no longer interrupts the run."""
    global _finished
    check()
    with signals_held():   # its closing check() sees _finished and raises nothing
        yield
        _finished = _finished or threading.current_thread() is threading.main_thread()
