"""valence_node's face expiry: one timer on the node clock, armed only while faces are tracked.

The timer is set to go off when the least recently seen face would time out and is
cancelled while no face is tracked. A wake-up of an rclpy timer costs ~0.3 ms of CPU
here, so a steady face_timeout / 4 tick was a large share of the node's idle cost;
this fires at most once per face_timeout while frames keep coming, never without
faces, and forgets a face on time. It runs on the node clock, so with use_sim_time
faces time out in simulated seconds.
"""
from __future__ import annotations

from typing import Callable

from valence_ros.core.face_tracker import FaceTracker

MIN_EXPIRY_WAIT_NS = 1_000_000  # the timer never re-arms shorter (no busy loop)


class FaceExpiry:
    """Expires the tracker's faces on time. Collaborators: the node's create_timer and
    destroy_timer, its clock, the callback wrapper of the pipeline (the lifecycle
    node's makes a destroyed pipeline's callback a no-op) and on_gone(faces), which
    announces the faces the tracker dropped."""

    def __init__(self, tracker: FaceTracker, clock, create_timer: Callable,
                 destroy_timer: Callable, wrap_callback: Callable,
                 on_gone: Callable[[list], None], face_timeout: float):
        self._tracker = tracker
        self._clock = clock
        self._create_timer = create_timer
        self._destroy_timer = destroy_timer
        self._wrap = wrap_callback
        self._on_gone = on_gone
        self.timer = None
        self.remake(face_timeout)

    def remake(self, face_timeout: float) -> None:
        """A new timer for a new face_timeout (armed at once when faces are tracked)."""
        self.destroy()
        self.timer = self._create_timer(float(face_timeout), self._wrap(self._expire_faces),
                                        autostart=False)  # node clock
        if len(self._tracker):
            self.arm(self._clock.now().nanoseconds)

    def arm(self, now_ns: int) -> None:
        """Go off at the tracker's next expiry time, or stay cancelled without faces."""
        deadline = self._tracker.next_expiry_ns()
        if deadline is None:
            self.timer.cancel()
            return
        self.timer.timer_period_ns = max(deadline - now_ns, MIN_EXPIRY_WAIT_NS)
        self.timer.reset()

    def destroy(self) -> None:
        if self.timer is not None:
            self.timer.cancel()  # an expiry already queued by the executor is skipped
            self._destroy_timer(self.timer)
            self.timer = None

    def _expire_faces(self) -> None:
        now_ns = self._clock.now().nanoseconds
        gone = self._tracker.expire(now_ns)
        if gone:
            self._on_gone(gone)
        self.arm(now_ns)
