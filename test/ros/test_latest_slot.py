"""LatestSlot: the newest item wins, replaced items are counted, wait=True drops nothing."""
from __future__ import annotations

import threading

from valence_ros.ros.latest_slot import LatestSlot


def test_newest_item_wins_and_replaced_ones_are_counted():
    slot = LatestSlot()
    for item in range(5):
        assert slot.put(item)
    assert slot.dropped == 4
    assert slot.take(0) == (True, 4)
    assert slot.take(0) == (False, None)


def test_take_times_out_empty_and_close_wakes_it():
    slot = LatestSlot()
    assert slot.take(0.01) == (False, None)
    result = []
    worker = threading.Thread(target=lambda: result.append(slot.take(None)))
    worker.start()
    slot.close()
    worker.join(5)
    assert result == [(False, None)]
    assert slot.put(1) is False and slot.closed


def test_a_waiting_item_is_still_taken_after_close():
    slot = LatestSlot()
    slot.put("last")
    slot.close()
    assert slot.take(0) == (True, "last")


def test_wait_true_hands_every_item_over():
    slot = LatestSlot()
    received = []

    def worker():
        while True:
            taken, item = slot.take(5)
            if not taken:
                return
            received.append(item)

    thread = threading.Thread(target=worker)
    thread.start()
    for item in range(200):
        assert slot.put(item, wait=True)
    # the last item may still be waiting: close only once the worker has it
    while len(received) < 200 and thread.is_alive():
        threading.Event().wait(0.001)
    slot.close()
    thread.join(5)
    assert received == list(range(200)) and slot.dropped == 0


def test_a_put_waiting_for_the_worker_returns_false_on_close():
    slot = LatestSlot()
    slot.put("first")
    result = []
    producer = threading.Thread(target=lambda: result.append(slot.put("second", wait=True)))
    producer.start()
    producer.join(0.05)
    assert producer.is_alive()   # blocked: the worker has not taken "first"
    slot.close()
    producer.join(5)
    assert result == [False] and slot.dropped == 0
