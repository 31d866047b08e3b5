"""Worker processes for a study: one input at a time per worker; progress and results by pipe.

Workers start with "spawn": a fresh interpreter inherits no threads, locks
or open bags from the parent (fork after threads can deadlock), and takes
the parent's one-thread BLAS/OpenMP settings through the environment. Each
worker is handed one task at a time, so the parent always knows which input
a worker holds: a worker that dies (killed for memory, a native crash)
fails that input only and is replaced. Ctrl-C/SIGTERM reach the parent
only (workers ignore SIGINT); it terminates the workers.

Each worker sends its messages (progress, the result) on a pipe of its own,
framed as an 8-byte length and a pickle. The parent never blocks on one
worker: it waits for any pipe to be readable (multiprocessing.connection.wait,
with the process sentinels, and a timeout to look at Ctrl-C/SIGTERM), reads
what is there without blocking, and cuts messages out itself. A worker that
dies anywhere in a message - in the length, after it, in the payload - ends
its pipe (the parent holds no copy of the writing end): the bytes read so far
are dropped and its input fails. (A shared multiprocessing.Queue blocked the
parent for good on a worker killed after the length of a 43 MB result.)
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import struct
import time
from multiprocessing.connection import wait
from typing import Callable, Iterator

from valence_ros.offline.run_context import RUN

__all__ = ["WorkerPool", "SEND_PAUSE_ENV", "SEND_STAGES"]

_POLL_S = 0.2
_HEADER = struct.Struct("!Q")
_MAX_MESSAGE = 1 << 36        # 64 GiB: a longer length is a corrupt stream, not a result
_READ_CHUNK = 1 << 20

# Test-only hook: "<stage>:<marker file>" makes the first worker that sends a result
# create <marker file> (with its pid) and stop at <stage> of the message, so that a test
# can kill it there. Unset in normal use.
SEND_PAUSE_ENV = "VALENCE_ANALYZE_TEST_PAUSE_SEND"
SEND_STAGES = ("mid-header", "after-header", "mid-payload")


# ---------------------------------------------------------------------- worker side


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _pause_here_once(marker: str) -> None:
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:   # another worker stopped already: this one goes on
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    while True:
        time.sleep(3600)


def _send(fd: int, message, pause: tuple[str, str] | None = None) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    header = _HEADER.pack(len(payload))
    if pause is None:
        if len(payload) < 65536:   # one write for the many small progress messages
            _write_all(fd, header + payload)
        else:                      # no copy of a large result
            _write_all(fd, header)
            _write_all(fd, payload)
        return
    stage, marker = pause
    cut = {"mid-header": (4, 0), "after-header": (8, 0), "mid-payload": (8, len(payload) // 2)}[stage]
    _write_all(fd, header[:cut[0]])
    _write_all(fd, payload[:cut[1]])
    _pause_here_once(marker)
    _write_all(fd, header[cut[0]:])
    _write_all(fd, payload[cut[1]:])


def _send_pause() -> tuple[str, str] | None:
    value = os.environ.get(SEND_PAUSE_ENV)
    if not value:
        return None
    stage, _, marker = value.partition(":")
    if stage not in SEND_STAGES or not marker:
        raise ValueError(f"{SEND_PAUSE_ENV}={value!r}: expected <{'|'.join(SEND_STAGES)}>:<marker file>")
    return stage, marker


def _worker_main(tasks, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from valence_ros.offline.study_worker import run_input
    fd = results.fileno()
    pause = _send_pause()
    while True:
        try:
            task = tasks.recv()
        except EOFError:        # the parent is gone
            return
        if task is None:
            return
        index = task["index"]

        def progress(n, index=index):
            _send(fd, ("progress", index, n))

        result = run_input(task, progress)
        gc.collect()   # the analysis runs with gc off and plots are cyclic: free them before the next input
        _send(fd, ("done", index, result), pause)


# ---------------------------------------------------------------------- parent side


class _Worker:
    """The parent's handle on one worker: process, task pipe, result pipe (read without blocking)."""

    def __init__(self, ctx, wid: int):
        task_read, self.tasks = ctx.Pipe(duplex=False)
        self.results, result_write = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_worker_main, args=(task_read, result_write),
                                   name=f"valence_analyze-job{wid}", daemon=True)
        self.process.start()
        # Only the worker may hold the writing end: its death then ends the pipe (EOF).
        task_read.close()
        result_write.close()
        os.set_blocking(self.results.fileno(), False)
        self._buffer = bytearray()
        self.task: dict | None = None   # the input it holds
        self.ended = False              # its result pipe reached EOF

    def read(self) -> list:
        """The complete messages readable now; sets `ended` at EOF."""
        fd = self.results.fileno()
        while not self.ended:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                self.ended = True
            self._buffer += chunk
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > _MAX_MESSAGE:
                raise RuntimeError(f"corrupt message stream from {self.process.name} (length {size})")
            if len(self._buffer) < _HEADER.size + size:
                break
            payload = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            messages.append(pickle.loads(payload))   # our own child's message
        return messages

    def exitcode(self):
        self.process.join(timeout=5.0)
        if self.process.is_alive():   # EOF while alive: it closed its pipe, so it is of no further use
            self.process.kill()
            self.process.join()
        return self.process.exitcode

    def close(self) -> None:
        self.tasks.close()
        self.results.close()


def _died(task: dict, exitcode) -> dict:
    return {"index": task["index"], "session": task["session"], "path": task["path"], "status": "failed",
            "error": f"the worker process died (exit code {exitcode}; killed for lack of memory?)"}


class WorkerPool:
    """run(tasks) yields each task's result as it completes."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._next_id = 0

    def _start_worker(self) -> int:
        wid = self._next_id
        self._next_id += 1
        # Held: a start cut short leaves a half-bootstrapped worker printing a traceback,
        # and a started worker must be in _workers for close() to stop it.
        with RUN.signals_held():
            self._workers[wid] = _Worker(self._ctx, wid)
        return wid

    def run(self, tasks: list[dict], on_progress: Callable[[int, int], None]) -> Iterator[dict]:
        pending = list(reversed(tasks))
        remaining = len(tasks)
        try:
            for _ in range(min(self.jobs, len(tasks))):
                self._start_worker()
            while remaining:
                for worker in self._workers.values():
                    if worker.task is None and pending:
                        worker.task = pending.pop()
                        try:
                            worker.tasks.send(worker.task)
                        except OSError:   # it died before taking the task: its pipe ends below
                            pass
                RUN.check()
                handles = {}
                for wid, worker in self._workers.items():
                    handles[worker.results] = wid
                    handles[worker.process.sentinel] = wid
                for wid in sorted({handles[h] for h in wait(list(handles), timeout=_POLL_S)}):
                    worker = self._workers[wid]
                    alive = worker.process.is_alive()   # before the read: if dead, the read reaches EOF
                    for kind, index, payload in worker.read():
                        if kind == "progress":
                            on_progress(index, payload)
                        elif worker.task is not None and index == worker.task["index"]:   # "done"
                            worker.task = None
                            remaining -= 1
                            yield payload
                    if alive and not worker.ended:
                        continue
                    # Gone: a message it had not finished is dropped with its input.
                    task, code = worker.task, worker.exitcode()
                    worker.close()
                    del self._workers[wid]
                    if task is not None:
                        remaining -= 1
                        yield _died(task, code)
                    if pending and len(self._workers) < self.jobs:
                        self._start_worker()
        except BaseException:
            self.close(terminate=True)
            raise
        self.close()

    def close(self, terminate: bool = False) -> None:
        for worker in self._workers.values():
            if terminate:
                worker.process.terminate()
            else:
                try:
                    worker.tasks.send(None)
                except OSError:
                    worker.process.terminate()
        for worker in self._workers.values():
            worker.process.join(timeout=5.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.close()
        self._workers.clear()
