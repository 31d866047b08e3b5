"""valence_node's input path for input_decoding = cdr: serialised bytes in, bytes out.

rclpy hands a raw subscription the message's CDR bytes and publishes bytes as they
are, so no rclpy message object is built on this path (that costs about 25 us per
frame here, more than the node's own computation). valence_ros.cdr.frame decodes
stamp, frame_id, face_id, labels and probabilities (strings exactly as rclpy decodes
them) and writes the Valence bytes; the steps in between are the node's own
(ValencePipeline._accept, _valence_of, _published), so both decodings compute
the same frames (test/ros/test_node_cdr_input.py). A message that is not
well-formed CDR is rejected as "undecodable", counted and warned about.
"""
from __future__ import annotations

import time

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from valence_ros.cdr.frame import CdrFrameError, FrameDecoder, valence_bytes

def serialized_callback(node):
    """The subscription callback of a ValencePipeline node for raw EmotionProbabilities.

    A closure: the hot path finds decoder, node methods and publisher in locals."""
    decode = FrameDecoder().decode
    accept = node._accept
    valence_of = node._valence_of
    published = node._published
    publish = node._valence_pub.publish
    clock = time.perf_counter_ns

    def on_serialized(data: bytes) -> None:
        t0 = clock()
        node._n_in += 1
        try:
            layout, stamp, sec, nanosec, values = decode(data)
        except CdrFrameError as error:
            node._reject("undecodable", "?", str(error))
            return
        face_id = layout.face_id
        label_map = accept(face_id, layout.frame_id, layout.labels)
        if label_map is None:
            return
        result = valence_of(values, label_map, face_id, sec * 1_000_000_000 + nanosec, None)
        if result is None:
            return
        frame, raw, vector = result
        publish(valence_bytes(layout, stamp, frame.valence, raw))
        header = None
        if frame.state_changed or node._hri_output is not None:
            header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=layout.frame_id)
        published(header, face_id, frame, vector, t0)

    return on_serialized
