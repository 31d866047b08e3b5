"""Two helper threads for the offline tool: a reader running ahead and an in-order writer.

Reading (sqlite/apsw, file I/O, decompression) and writing (sqlite inserts,
file writes, numpy formatting) spend most of their time in C code that
releases the GIL; running them in two helper threads overlaps them with the
main thread's per-frame Python loop (the node's FaceTracker). Order is kept:
one reader thread, one FIFO writer thread.

Both threads are started by RUN.start_helper() (offline.run_context): joined before
valence_analyze returns.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Generator, Iterable, TypeVar

from valence_ros.offline.run_context import RUN

T = TypeVar("T")

__all__ = ["prefetch", "BackgroundSink"]

_END = object()


def prefetch(iterator: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """Iterate `iterator` in a helper thread, `depth` items ahead; exceptions re-raised here."""
    items: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            for item in iterator:
                if not put((True, item)):
                    return
            put((False, _END))
        except BaseException as error:  # handed to the consumer
            put((False, error))

    thread = RUN.start_helper(run, "valence-reader", stop=stop.set)
    try:
        while True:
            ok, item = items.get()
            if ok:
                yield item
            elif item is _END:
                return
            else:
                raise item
    finally:
        stop.set()
        thread.join()


class BackgroundSink:
    """Runs sink = factory() and then sink.write(item) for each put() item, in one
    helper thread (sqlite objects must stay in the thread that created them)."""

    def __init__(self, factory, depth: int = 2):
        self._factory = factory
        self._items: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self.sink: Any = None   # what the factory made, once the writer thread ran it
        self._finished = False
        self._thread = RUN.start_helper(self._run, "valence-writer", stop=self._request_end)

    def _run(self):
        try:
            self.sink = self._factory()
        except BaseException as error:
            self._error = error
        while True:
            item = self._items.get()
            if isinstance(item, tuple) and item and item[0] is _END:   # (END, commit)
                if self.sink is not None:
                    try:
                        if item[1] and self._error is None:
                            self.sink.close()
                        else:
                            self.sink.abort()
                    except BaseException as error:
                        self._error = self._error or error
                return
            if self._error is None:
                try:
                    self.sink.write(item)
                except BaseException as error:
                    self._error = error

    def put(self, item: Any) -> None:
        RUN.check()   # once per batch: a Ctrl-C/SIGTERM whose raise was lost ends the run here
        if self._error is not None:
            raise self._error
        self._items.put(item)

    def _request_end(self, commit: bool = False) -> None:
        with RUN.signals_held():   # flag and end marker together: a second call must not wait forever
            if not self._finished:
                self._finished = True
                self._items.put((_END, commit))

    def finish(self, commit: bool = True) -> Any:
        """Close (commit=True) or abort the sink; re-raises a writer error."""
        self._request_end(commit)
        self._thread.join()
        if self._error is not None and commit:
            raise self._error
        return self.sink
