"""Helpers of the valence_fer_node tests and its latency bench: the installed FER node as a
process, its /diagnostics status, sensor_msgs images of real faces.

Real faces (valence_ros.fer.sample_faces, shipped in installed packages, never
downloaded): "astronaut" = scikit-image's astronaut.png (Eileen Collins, NASA, smiling),
"grace_hopper" = matplotlib's grace_hopper.jpg (U.S. Navy portrait, neutral).
"""
from __future__ import annotations

from typing import Iterable

FER_NODE = "valence_fer_node"
FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def start_fer(node_process, params=None, **kwargs):
    """The installed valence_fer_node, as launch starts it (installed params file + -p)."""
    process = node_process(params, executable=FER_NODE, **kwargs)
    process.node_name = FER_NODE
    return process


def fer_statuses(process, arrays: Iterable) -> list[dict]:
    """KeyValues (plus 'level', 'message') of every status the FER node published."""
    name = f"{process.fqn.lstrip('/')}: fer"
    found = []
    for array in list(arrays):
        for status in array.status:
            if status.name == name:
                values = {kv.key: kv.value for kv in status.values}
                level = status.level
                values["level"] = level[0] if isinstance(level, bytes) else int(level)
                values["message"] = status.message
                found.append(values)
    return found


def image_msg(frame, stamp_ns: int, frame_id: str = "test_camera", encoding: str = "bgr8"):
    """sensor_msgs/Image of a BGR uint8 frame (rgb8: channels swapped, mono8: gray)."""
    import numpy as np
    from sensor_msgs.msg import Image
    if encoding == "rgb8":
        frame = frame[:, :, ::-1]
    elif encoding == "mono8":
        frame = (frame.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)).astype(np.uint8)
    frame = np.ascontiguousarray(frame)
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
    msg.encoding = encoding
    msg.step = msg.width * (1 if frame.ndim == 2 else int(frame.shape[2]))
    msg.data = frame.tobytes()
    return msg


def stamp_ns_of(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
