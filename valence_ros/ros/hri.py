"""ROS4HRI (REP-155) interoperability: per-face hri_msgs/Expression output and the
tracked-faces input.

hri_msgs is imported here only, and only when hri_expression is true or
hri_tracked_faces_topic is set, so the node runs where hri_msgs is not installed
(it is not released for every ROS 2 distribution); a missing hri_msgs is then a
one-line startup error naming the package and how to get it.

Expression publishers are created on a face's first frame and destroyed when the
face is forgotten (expired, evicted, left the tracked list, clock reset,
deactivation), so there are never more of them than tracked faces (<= max_faces),
and none is re-created per frame.
"""
from __future__ import annotations

from typing import Callable

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from valence_ros.core.emotions import EMOTIONS
from valence_ros.core.hri_expression import dominant_emotion, expression_topic
from valence_ros.ros.tracked_list import TrackedList
from valence_ros.ros.node_parameters import StartupError

# ROS4HRI publishers and hri_face_detect use the default QoS: reliable, volatile, depth 10.
HRI_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def uses_hri(values: dict) -> bool:
    return bool(values["hri_expression"]) or bool(values["hri_tracked_faces_topic"])


def import_hri_msgs(values: dict):
    """The hri_msgs.msg module, or StartupError naming the parameter that needs it."""
    try:
        import hri_msgs.msg as hri_msgs_msg
        return hri_msgs_msg
    except ImportError as error:
        name = "hri_expression" if values["hri_expression"] else "hri_tracked_faces_topic"
        raise StartupError(
            f"parameter '{name}' = {values[name]!r} needs the ROS4HRI message package "
            f"hri_msgs, which cannot be imported ({error}); install it (Humble, Jazzy, "
            f"Rolling: ros-$ROS_DISTRO-hri-msgs; elsewhere build ros4hri/hri_msgs from source "
            f"in your workspace) or unset the parameter") from None


class ExpressionOutput:
    """One hri_msgs/Expression publisher per tracked face, on the topic pattern."""

    def __init__(self, expression_type, pattern: str, create_publisher: Callable,
                 destroy_publisher: Callable, max_faces: int, is_tracked: Callable[[str], bool]):
        self._type = expression_type
        self._pattern = pattern
        self._create = create_publisher
        self._destroy = destroy_publisher
        self._max_faces = max_faces
        self._is_tracked = is_tracked
        self._publishers: dict[str, object] = {}
        self._topics: dict[str, str] = {}  # topic -> the face_id publishing on it
        # The message's own constants (in hri_msgs 2.x they equal the canonical names).
        self._names = tuple(getattr(expression_type, name.upper()) for name in EMOTIONS)
        self._msg = expression_type()
        self._msg.arousal = 0.0  # not estimated by this model (README "ROS4HRI")
        self.created = 0
        self.destroyed = 0
        self.topic_collisions = 0  # frames of a face whose topic another tracked face has

    def __len__(self) -> int:
        return len(self._publishers)

    def topic_of(self, face_id: str) -> str:
        return expression_topic(self._pattern, face_id)

    def publish(self, face_id: str, header, valence: float, probabilities) -> None:
        publisher = self._publishers.get(face_id)
        if publisher is None:
            if len(self._publishers) >= self._max_faces:  # a face was evicted for this one
                self.prune(self._is_tracked)
            topic = self.topic_of(face_id)
            if topic in self._topics:
                # Two ids whose SHA-1 share 32 bits (see core.hri_expression): never two
                # faces on one topic; the later one gets no Expression while both are tracked.
                self.topic_collisions += 1
                return
            publisher = self._create(self._type, topic, HRI_QOS)
            self._publishers[face_id] = publisher
            self._topics[topic] = face_id
            self.created += 1
        index, confidence = dominant_emotion(probabilities)
        msg = self._msg
        msg.header = header
        msg.expression = self._names[index]
        msg.valence = valence
        msg.confidence = confidence
        publisher.publish(msg)

    def forget(self, face_ids) -> None:
        for face_id in face_ids:
            publisher = self._publishers.pop(face_id, None)
            if publisher is not None:
                self._topics.pop(self.topic_of(face_id), None)
                self._destroy(publisher)
                self.destroyed += 1

    def prune(self, is_tracked: Callable[[str], bool]) -> None:
        """Destroy the publishers of faces the tracker no longer tracks."""
        self.forget([f for f in self._publishers if not is_tracked(f)])

    def close(self) -> None:
        self.forget(list(self._publishers))


def start_hri(values: dict, *, create_publisher: Callable, destroy_publisher: Callable,
              is_tracked: Callable[[str], bool], create_subscription: Callable,
              on_tracked_faces: Callable):
    """(ExpressionOutput or None, TrackedList or None, the tracked-faces subscription or
    None) as the parameters ask. The node's collaborators, explicitly:
    create_publisher(type, topic, qos) / destroy_publisher(publisher) make and remove
    the Expression publishers (the lifecycle node's make lifecycle publishers);
    is_tracked(face_id) asks the node's face tracker; create_subscription is the
    node's; on_tracked_faces(msg) receives each IdsList. Raises StartupError when
    hri_msgs is needed but missing."""
    if not uses_hri(values):
        return None, None, None
    msgs = import_hri_msgs(values)
    output = None
    if values["hri_expression"]:
        output = ExpressionOutput(
            msgs.Expression, values["hri_expression_topic"], create_publisher,
            destroy_publisher, int(values["max_faces"]), is_tracked)
    tracked = subscription = None
    if values["hri_tracked_faces_topic"]:
        tracked = TrackedList()
        subscription = create_subscription(
            msgs.IdsList, values["hri_tracked_faces_topic"], on_tracked_faces, HRI_QOS)
    return output, tracked, subscription


def hri_diagnostics(output: ExpressionOutput | None, tracked: TrackedList | None) -> list:
    """The ROS4HRI KeyValues of the node's /diagnostics status (none when off)."""
    from diagnostic_msgs.msg import KeyValue
    values = []
    if output is not None:
        values += [KeyValue(key="hri_expression_publishers", value=str(len(output))),
                   KeyValue(key="hri_topic_collisions", value=str(output.topic_collisions))]
    if tracked is not None:
        values += [KeyValue(key="hri_tracked_lists", value=str(tracked.lists)),
                   KeyValue(key="hri_faces_left", value=str(tracked.left)),
                   KeyValue(key="hri_ids_refused", value=str(tracked.ids_refused))]
    return values
