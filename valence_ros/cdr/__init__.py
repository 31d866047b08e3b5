"""Vectorised CDR codec for this package's message types (numpy only).

Used by the offline analyser (bags) and usable by the ROS layer for raw
(serialised) messages. ``decode``: batches of EmotionProbabilities /
Float32MultiArray; ``single``: the per-message reference decoder; ``encode``:
Valence / ValenceState rows, byte-identical to rclpy's serialize_message.
"""
from valence_ros.cdr.decode import BatchDecoder, DecodedBatch, gather_rows
from valence_ros.cdr.encode import encode_valence, encode_valence_state, split_stamp
from valence_ros.cdr.single import decode_replacing
from valence_ros.cdr.strings import StringTable, rclpy_string
from valence_ros.cdr.typenames import EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY, VALENCE, VALENCE_STATE

__all__ = [
    "EMOTION_PROBABILITIES", "FLOAT32_MULTI_ARRAY", "VALENCE", "VALENCE_STATE",
    "DecodedBatch", "BatchDecoder", "StringTable", "decode_replacing", "encode_valence",
    "encode_valence_state", "gather_rows", "rclpy_string", "split_stamp",
]
