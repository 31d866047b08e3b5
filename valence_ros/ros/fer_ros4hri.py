"""valence_fer_node's ROS4HRI input (input_mode ros4hri): one crop subscription per tracked face.

hri_face_detect (ROS4HRI, REP-155) lists the tracked faces on /humans/faces/tracked
(hri_msgs/IdsList) and publishes each face's crops on /humans/faces/<id>/aligned and
/humans/faces/<id>/cropped (sensor_msgs/Image). CropSubscriptions follows the list:
a subscription for every listed id, destroyed as soon as the id leaves the list. It
holds at most `max_ids` subscriptions; an id beyond that, longer than MAX_ID_LENGTH
or not usable as a topic token is refused and counted, never subscribed, so memory
stays bounded however many ids come and go.

hri_msgs is imported only here, only in this mode (it is not released for every
ROS 2 distribution): missing, it is a one-line startup error.
"""
from __future__ import annotations

from typing import Callable

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from valence_ros.core.hri_expression import is_topic_token
from valence_ros.ros.node_parameters import StartupError

# ROS4HRI ids are short random tokens (hri_face_detect: 5 letters); this bounds what one
# list can make the node hold per id.
MAX_ID_LENGTH = 64
# The tracked list: reliable, like hri_face_detect's publisher (ROS default QoS).
TRACKED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
# Crops: newest only; best effort matches both reliable and best-effort publishers.
CROP_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def import_ids_list():
    """hri_msgs.msg.IdsList, or StartupError saying what is missing and how to get it."""
    try:
        from hri_msgs.msg import IdsList
        return IdsList
    except ImportError as error:
        raise StartupError(
            f"parameter 'input_mode' = 'ros4hri' needs the ROS4HRI message package hri_msgs, "
            f"which cannot be imported ({error}); install it (Humble, Jazzy, Rolling: "
            f"ros-$ROS_DISTRO-hri-msgs; elsewhere build ros4hri/hri_msgs from source in your "
            f"workspace) or choose input_mode image or video") from None


class CropSubscriptions:
    """Subscriptions to /humans/faces/<id>/<crop> for the ids of the latest tracked list."""

    def __init__(self, node, image_type, crop: str, max_ids: int,
                 on_crop: Callable[[str, object], None]):
        self._node = node
        self._image_type = image_type
        self._crop = crop
        self._max_ids = max_ids
        self._on_crop = on_crop
        self._subscriptions: dict[str, object] = {}
        self.lists = 0             # tracked lists received
        self.created = 0           # subscriptions created, destroyed
        self.destroyed = 0
        self.refused_invalid = 0   # ids too long or not a topic token (per list)
        self.refused_over_limit = 0  # ids beyond max_ids (per list)

    def __len__(self) -> int:
        return len(self._subscriptions)

    def __contains__(self, face_id: str) -> bool:
        return face_id in self._subscriptions

    def topic_of(self, face_id: str) -> str:
        return f"/humans/faces/{face_id}/{self._crop}"

    def update(self, ids) -> None:
        """Follow one tracked list: unsubscribe ids that left, subscribe new ones."""
        self.lists += 1
        listed: dict[str, None] = {}   # insertion-ordered set: the list's order decides
        for face_id in ids:
            if len(face_id) > MAX_ID_LENGTH or not is_topic_token(face_id):
                self.refused_invalid += 1
            else:
                listed[face_id] = None
        for face_id in [f for f in self._subscriptions if f not in listed]:
            self._node.destroy_subscription(self._subscriptions.pop(face_id))
            self.destroyed += 1
        for face_id in listed:
            if face_id in self._subscriptions:
                continue
            if len(self._subscriptions) >= self._max_ids:
                self.refused_over_limit += 1
                continue
            self._subscriptions[face_id] = self._node.create_subscription(
                self._image_type, self.topic_of(face_id),
                lambda msg, face_id=face_id: self._on_crop(face_id, msg), CROP_QOS)
            self.created += 1

    def close(self) -> None:
        for face_id in list(self._subscriptions):
            self._node.destroy_subscription(self._subscriptions.pop(face_id))
            self.destroyed += 1

    def diagnostics(self) -> list[tuple[str, str]]:
        return [("ros4hri_ids_subscribed", str(len(self))),
                ("ros4hri_lists", str(self.lists)),
                ("ros4hri_subscriptions_created", str(self.created)),
                ("ros4hri_subscriptions_destroyed", str(self.destroyed)),
                ("ros4hri_ids_refused_invalid", str(self.refused_invalid)),
                ("ros4hri_ids_refused_over_limit", str(self.refused_over_limit))]
