"""A one-item hand-over between a producer and one worker thread: the newest item wins.

valence_fer_node receives images on the executor thread and classifies them on a
worker thread. An image still waiting when a newer one arrives is dropped and
counted (the node keeps up by dropping, never by queueing), so memory holds at
most one waiting image and the worker always takes the newest.

`put(item, wait=True)` (video files read as fast as possible) instead waits until
the worker has taken the previous item: nothing is dropped.
"""
from __future__ import annotations

import threading
from typing import Any

__all__ = ["LatestSlot"]


class LatestSlot:
    def __init__(self):
        self._condition = threading.Condition()
        self._item: Any = None
        self._full = False
        self._closed = False
        self.dropped = 0   # items replaced before the worker took them

    def put(self, item: Any, wait: bool = False) -> bool:
        """Offer `item`; False once closed. wait=False replaces (and counts) a waiting
        item; wait=True blocks until the slot is empty (or closed)."""
        with self._condition:
            if wait:
                self._condition.wait_for(lambda: not self._full or self._closed)
            if self._closed:
                return False
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._condition.notify_all()
            return True

    def take(self, timeout: float | None = None) -> tuple[bool, Any]:
        """(True, item) as soon as one is waiting; (False, None) after `timeout`
        seconds or once closed with nothing waiting."""
        with self._condition:
            self._condition.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return False, None
            item, self._item, self._full = self._item, None, False
            self._condition.notify_all()
            return True, item

    def close(self) -> None:
        """Wake every waiter; later puts are refused. A waiting item can still be taken."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
