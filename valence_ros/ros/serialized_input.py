"""valence_node's input path for input_decoding = cdr: serialised bytes in, bytes out.

rclpy hands a raw subscription the message's CDR bytes and publishes bytes as they
are, so no rclpy message object is built on this path (that costs about 25 us per
frame here, more than the node's own computation). valence_ros.cdr.frame decodes
stamp, frame_id, face_id, labels and probabilities (strings exactly as rclpy decodes
them) and writes the Valence bytes; the steps in between are the node's own, handed
over explicitly as FrameSteps (the same steps its message-object callbacks run), so
both decodings compute the same frames (test/ros/test_node_cdr_input.py). A message
that is not well-formed CDR is rejected as "undecodable", counted and warned about.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from valence_ros.cdr.frame import CdrFrameError, FrameDecoder, valence_bytes


@dataclass
class FrameCounts:
    """Frames received and published since the pipeline was built (read by diagnostics)."""

    received: int = 0
    published: int = 0


@dataclass(frozen=True)
class FrameSteps:
    """The per-frame steps of a ValencePipeline, for an input path outside the node.

    accept(face_id, frame_id, labels) -> LabelMap or None (refused, already counted);
    valence_of(values, label_map, face_id, stamp_ns, now_ns) -> (frame, raw, vector)
    or None (rejected); published(header, face_id, frame, vector, t0) after the
    Valence went out; reject(reason, face_id, detail) counts and warns;
    publish_valence publishes on the valence topic (bytes on a raw path);
    header_always: every frame needs its Header (an Expression is published per frame),
    not only one whose state changed."""

    counts: FrameCounts
    accept: Callable
    valence_of: Callable
    published: Callable
    reject: Callable[[str, str, str], None]
    publish_valence: Callable
    header_always: bool


def serialized_callback(steps: FrameSteps) -> Callable[[bytes], None]:
    """The subscription callback for raw EmotionProbabilities running `steps`.

    A closure: the hot path finds decoder, steps and publisher in locals."""
    decode = FrameDecoder().decode
    counts = steps.counts
    accept = steps.accept
    valence_of = steps.valence_of
    published = steps.published
    reject = steps.reject
    publish = steps.publish_valence
    header_always = steps.header_always
    clock = time.perf_counter_ns

    def on_serialized(data: bytes) -> None:
        t0 = clock()
        counts.received += 1
        try:
            layout, stamp, sec, nanosec, values = decode(data)
        except CdrFrameError as error:
            reject("undecodable", "?", str(error))
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
        if header_always or frame.state_changed:
            header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=layout.frame_id)
        published(header, face_id, frame, vector, t0)

    return on_serialized
