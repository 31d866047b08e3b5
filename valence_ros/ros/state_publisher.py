"""valence_state: each face's latest state, kept in the transient-local history.

A late-joining behaviour tree receives the last `depth` messages (depth =
2 * max_faces) and must find every tracked face's current state among them,
and for a face that went away, UNKNOWN rather than its last real state:

- publish(): a face's message about to fall out of the history is re-sent
  unchanged first (same header), while that face is tracked. At most
  max_faces faces are tracked, so this ends and is rare.
- announce_gone(): a face the tracker dropped (expired, evicted, clock reset,
  shutdown) gets one UNKNOWN message, stamped with the node clock at that
  moment. It is not re-sent: when it falls out of the history, every older
  message of that face has already fallen out, so a late joiner sees either
  UNKNOWN last or nothing for the face. The history stays bounded by depth.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterable

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from valence_ros.core.face_tracker import GoneFace
from valence_ros.core.valence_state import UNKNOWN


class StatePublisher:
    """The node's valence_state publisher and its history bookkeeping."""

    def __init__(self, node, msg_type, max_faces: int, is_tracked: Callable[[str], bool],
                 topic: str = "valence_state", create_publisher: Callable | None = None):
        self._node = node
        self._msg_type = msg_type
        self._is_tracked = is_tracked
        self.depth = 2 * int(max_faces)
        # create_publisher: the lifecycle node passes its lifecycle-publisher factory.
        self._publisher = (create_publisher or node.create_publisher)(
            msg_type, topic,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.depth,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL))
        # face_id -> (sequence number, its last message), oldest first.
        self._history: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self.published = 0     # all messages, re-sent ones included
        self.republished = 0   # re-sent unchanged to stay in the history
        self.unknown = 0       # UNKNOWN announcements

    @property
    def topic_name(self) -> str:
        return self._publisher.topic_name

    def publish(self, header, face_id: str, state: int, valence: float) -> None:
        self._send(face_id, self._msg_type(header=header, face_id=face_id, state=state,
                                           valence=valence))

    def announce_gone(self, gone: Iterable[GoneFace]) -> None:
        """One UNKNOWN per face (last smoothed valence, last frame_id, stamp = node clock now)."""
        stamp = None
        for face in gone:
            if stamp is None:
                stamp = self._node.get_clock().now().to_msg()
            last = self._history.get(face.face_id)
            frame_id = last[1].header.frame_id if last is not None else ""
            self._send(face.face_id, self._msg_type(
                header=Header(stamp=stamp, frame_id=frame_id), face_id=face.face_id,
                state=UNKNOWN, valence=face.valence))
            self.unknown += 1

    def wait_delivered(self, timeout_s: float) -> bool:
        """Until every matched reliable subscriber acknowledged what was sent (or timeout)."""
        return self._publisher.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9)))

    def forget(self) -> None:
        self._history.clear()

    def close(self, destroy_publisher: Callable) -> None:
        """Destroy the publisher with `destroy_publisher` (the node's matching hook)."""
        self._history.clear()
        destroy_publisher(self._publisher)

    def _send(self, face_id: str, msg) -> None:
        history = self._history
        history.pop(face_id, None)
        while history:
            old_face, (seq, old_msg) = next(iter(history.items()))
            if seq > self.published + 1 - self.depth:
                break
            del history[old_face]
            if self._is_tracked(old_face):
                self._publisher.publish(old_msg)
                self.published += 1
                self.republished += 1
                history[old_face] = (self.published, old_msg)
        self._publisher.publish(msg)
        self.published += 1
        history[face_id] = (self.published, msg)
