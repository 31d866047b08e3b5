"""Worker processes for a study: one input at a time per worker; progress and results by queue.

Workers start with "spawn": a fresh interpreter inherits no threads, locks
or open bags from the parent (fork after threads can deadlock), and takes
the parent's one-thread BLAS/OpenMP settings through the environment. Each
worker is handed one task at a time, so the parent always knows which input
a worker holds: a worker that dies (killed for memory, a native crash)
fails that input only and is replaced. Ctrl-C/SIGTERM reach the parent
only (workers ignore SIGINT); it terminates the workers.
"""
from __future__ import annotations

import gc
import multiprocessing
import queue
import signal
from typing import Callable, Iterator

from valence_ros.offline.termination import check as check_interrupted
from valence_ros.offline.termination import signals_held

__all__ = ["WorkerPool"]

_POLL_S = 0.2


def _worker_main(worker_id: int, tasks, events) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from valence_ros.offline.study_worker import run_input
    while True:
        try:
            task = tasks.recv()
        except EOFError:        # the parent is gone
            return
        if task is None:
            return
        index = task["index"]

        def progress(n, index=index):
            events.put(("progress", worker_id, index, n))

        result = run_input(task, progress)
        gc.collect()   # the analysis runs with gc off and plots are cyclic: free them before the next input
        events.put(("done", worker_id, index, result))


def _died(task: dict, exitcode) -> dict:
    return {"index": task["index"], "session": task["session"], "path": task["path"], "status": "failed",
            "error": f"the worker process died (exit code {exitcode}; killed for lack of memory?)"}


class WorkerPool:
    """run(tasks) yields each task's result as it completes."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._ctx = multiprocessing.get_context("spawn")
        self._events = self._ctx.Queue()
        self._workers: dict[int, tuple] = {}   # worker id -> (process, task pipe)
        self._next_id = 0

    def _start_worker(self) -> int:
        wid = self._next_id
        self._next_id += 1
        receive, send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_worker_main, args=(wid, receive, self._events),
                                 name=f"valence_analyze-job{wid}", daemon=True)
        # Held: a start cut short leaves a half-bootstrapped worker printing a traceback,
        # and a started worker must be in _workers for close() to stop it.
        with signals_held():
            proc.start()
            self._workers[wid] = (proc, send)
        receive.close()
        return wid

    def run(self, tasks: list[dict], on_progress: Callable[[int, int], None]) -> Iterator[dict]:
        pending = list(reversed(tasks))
        busy: dict[int, dict] = {}
        done: set[int] = set()
        try:
            for _ in range(min(self.jobs, len(tasks))):
                self._start_worker()
            idle = list(reversed(self._workers))
            while len(done) < len(tasks):
                while idle and pending:
                    wid, task = idle.pop(), pending.pop()
                    busy[wid] = task
                    try:
                        self._workers[wid][1].send(task)
                    except OSError:   # it died before taking the task: found below
                        pass
                check_interrupted()
                try:
                    kind, wid, index, payload = self._events.get(timeout=_POLL_S)
                except queue.Empty:
                    for wid, task in list(busy.items()):
                        proc = self._workers[wid][0]
                        if proc.is_alive() or task["index"] in done:
                            continue
                        proc.join()
                        del busy[wid]
                        self._workers.pop(wid)[1].close()
                        done.add(task["index"])
                        yield _died(task, proc.exitcode)
                        if pending:
                            idle.append(self._start_worker())
                    continue
                if kind == "progress":
                    on_progress(index, payload)
                elif index not in done:   # "done"
                    done.add(index)
                    busy.pop(wid, None)
                    idle.append(wid)
                    yield payload
        except BaseException:
            self.close(terminate=True)
            raise
        self.close()

    def close(self, terminate: bool = False) -> None:
        for proc, pipe in self._workers.values():
            if terminate:
                proc.terminate()
            else:
                try:
                    pipe.send(None)
                except OSError:
                    proc.terminate()
        for proc, pipe in self._workers.values():
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
            pipe.close()
        self._workers.clear()
        self._events.close()
        self._events.join_thread()
