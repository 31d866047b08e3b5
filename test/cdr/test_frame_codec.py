"""Per-message CDR (valence_ros.cdr.frame) == rclpy's own (de)serialisation, and safe on garbage.

The reference for decoding is rclpy (deserialize_message on the installed message
types) for well-formed messages, and the package's reference decoder
(decode_replacing: rosbags' checks, rclpy's string decoding) for everything else,
including mutated bytes: a decoder whose layout cache is warm must answer exactly
what a fresh one and the reference answer.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valence_ros.cdr import EMOTION_PROBABILITIES, decode_replacing
from valence_ros.cdr.frame import CdrFrameError, FrameDecoder, FrameLayout, valence_bytes

rclpy_serialization = pytest.importorskip("rclpy.serialization")
msgs = pytest.importorskip("valence_ros.msg")
serialize_message = rclpy_serialization.serialize_message
deserialize_message = rclpy_serialization.deserialize_message

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
FLOATS = st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=9)


def emotion(sec=0, nanosec=0, frame_id="camera", face_id="", labels=(), probabilities=()):
    msg = msgs.EmotionProbabilities()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id, msg.face_id = frame_id, face_id
    msg.labels, msg.probabilities = list(labels), list(probabilities)
    return msg


def fields(decoded):
    layout, stamp, sec, nanosec, values = decoded
    return (layout.frame_id, layout.face_id, layout.labels, sec, nanosec, stamp,
            np.asarray(values, dtype=np.float32).tobytes())


def rclpy_fields(data):
    msg = deserialize_message(data, msgs.EmotionProbabilities)
    stamp = msg.header.stamp
    return (msg.header.frame_id, msg.face_id, tuple(msg.labels), stamp.sec, stamp.nanosec,
            struct.pack("<iI", stamp.sec, stamp.nanosec),
            np.asarray(msg.probabilities, dtype=np.float32).tobytes())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sec=st.integers(-2**31, 2**31 - 1), nanosec=st.integers(0, 2**32 - 1), frame_id=TEXT,
       face_id=TEXT, labels=st.lists(TEXT, max_size=9), probabilities=FLOATS)
def test_decode_equals_rclpy(sec, nanosec, frame_id, face_id, labels, probabilities):
    data = bytes(serialize_message(emotion(sec, nanosec, frame_id, face_id, labels, probabilities)))
    decoder = FrameDecoder()
    first = fields(decoder.decode(data))
    assert first == rclpy_fields(data)
    assert fields(decoder.decode(data)) == first      # second time from the layout cache
    assert decoder.misses == 1


def test_layout_cache_keys_ignore_padding_and_stamp():
    """Fast CDR leaves padding bytes uninitialised: they must not make a new layout."""
    base = bytearray(serialize_message(emotion(1, 2, "camera", "bob", ["happy"], [1.0])))
    decoder = FrameDecoder()
    layout = decoder.decode(bytes(base))[0]
    pad = 16 + 7                         # after "camera\0": 1 padding byte before face_id
    for value in (0x00, 0x5A, 0xFF):
        base[pad] = value
        base[4:12] = struct.pack("<iI", value, value * 3)
        got = decoder.decode(bytes(base))
        assert got[0] is layout and got[2:4] == (value, value * 3)
    assert decoder.misses == 1
    other = decoder.decode(bytes(serialize_message(emotion(1, 2, "camera", "bof", ["happy"], [1.0]))))
    assert other[0].face_id == "bof" and decoder.misses == 2


def test_layouts_are_bounded():
    decoder = FrameDecoder(max_layouts=8)
    for i in range(50):
        layout = decoder.decode(bytes(serialize_message(emotion(face_id=f"face{i}", probabilities=[1.0]))))[0]
        assert layout.face_id == f"face{i}"
        assert len(decoder) <= 8


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=st.lists(TEXT, max_size=3), probabilities=FLOATS, face_id=TEXT,
       edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(-12, 6))
def test_mutated_bytes_warm_cache_equals_fresh_and_reference(labels, probabilities, face_id, edits, cut):
    """Fuzz: flipped bytes, truncation, extension. Only CdrFrameError may come out, and
    a warm decoder (its layout learned from the intact message) answers exactly as a
    fresh decoder and as the reference decoder."""
    good = bytes(serialize_message(emotion(5, 6, "cam", face_id, labels, probabilities)))
    data = bytearray(good)
    for position, value in edits:
        if position < len(data):
            data[position] = value
    data = bytes(data[:len(data) + cut] if cut < 0 else data + bytes(cut))
    warm = FrameDecoder()
    warm.decode(good)
    answers = []
    for decoder in (warm, FrameDecoder()):
        try:
            answers.append(fields(decoder.decode(data)))
        except CdrFrameError:
            answers.append("error")
    try:
        sec, nanosec, frame_id, face, labs, values = decode_replacing(data, EMOTION_PROBABILITIES)
        reference = (frame_id, face, labs, sec, nanosec, struct.pack("<iI", sec, nanosec),
                     np.asarray(values, dtype=np.float32).tobytes())
    except (ValueError, struct.error):
        reference = "error"
    assert answers == [reference, reference]


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x01\x00\x00", b"\x00\x01\x00\x00" + bytes(11),
                                  b"\x00\x01\x00\x00" + b"\xff" * 40, b"\x01\x00\x00\x00" + bytes(40)])
def test_garbage_is_a_clear_error(data):
    with pytest.raises(CdrFrameError):
        FrameDecoder().decode(data)


def test_big_endian_input_decodes():
    from valence_ros.offline.bag_reader import typestore
    store = typestore()
    T = store.types
    msg = T[EMOTION_PROBABILITIES](
        header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=7, nanosec=9),
                                        frame_id="cam"),
        face_id="x", labels=["happy"], probabilities=np.array([1.0], dtype=np.float32))
    data = bytes(store.serialize_cdr(msg, EMOTION_PROBABILITIES, little_endian=False))
    assert data[:2] == b"\x00\x00"
    layout, stamp, sec, nanosec, values = FrameDecoder().decode(data)
    assert (layout.frame_id, layout.face_id, layout.labels, sec, nanosec) == ("cam", "x", ("happy",), 7, 9)
    assert stamp == struct.pack("<iI", 7, 9) and list(values) == [1.0]


@settings(max_examples=150, deadline=None)
@given(sec=st.integers(-2**31, 2**31 - 1), nanosec=st.integers(0, 2**32 - 1), frame_id=PLAIN_TEXT,
       face_id=PLAIN_TEXT, valence=st.floats(-1, 1), raw=st.floats(-1, 1))
def test_valence_bytes_equal_rclpy_serialisation(sec, nanosec, frame_id, face_id, valence, raw):
    from valence_ros.cdr import VALENCE
    from valence_ros.offline.bag_reader import typestore
    data = valence_bytes(FrameLayout(frame_id, face_id, ()), struct.pack("<iI", sec, nanosec), valence, raw)
    msg = deserialize_message(data, msgs.Valence)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id, msg.face_id) == (
        sec, nanosec, frame_id, face_id)
    # the double -> float32 rounding rclpy applies to a Python float
    assert data[-8:] == bytes(serialize_message(msgs.Valence(valence=valence, raw_valence=raw)))[-8:]
    # rclpy's bytes are these up to the padding it leaves uninitialised; rosbags writes
    # zero padding, as valence_bytes does: byte-identical
    store = typestore()
    again = store.serialize_cdr(store.deserialize_cdr(bytes(serialize_message(msg)), VALENCE), VALENCE)
    assert bytes(again) == data


def test_huge_layouts_are_decoded_but_never_remembered():
    """Issue 11, defect 2: 256 remembered layouts of 1,000 labels x 1 kB each would
    hold hundreds of MB; a layout over MAX_LAYOUT_KEY_BYTES is decoded every time."""
    from valence_ros.cdr.frame import MAX_LAYOUT_KEY_BYTES
    decoder = FrameDecoder()
    labels = ["happy"] + [f"{k:04d}" + "x" * 1000 for k in range(200)]
    data = bytes(serialize_message(emotion(face_id="f", labels=labels, probabilities=[1.0] + [0.0] * 200)))
    assert len(data) > MAX_LAYOUT_KEY_BYTES
    for _ in range(2):
        assert fields(decoder.decode(data)) == rclpy_fields(data)
    assert len(decoder) == 0 and decoder.misses == 2
    big_id = bytes(serialize_message(emotion(face_id="g" * (MAX_LAYOUT_KEY_BYTES + 1), probabilities=[1.0])))
    assert decoder.decode(big_id)[0].face_id == "g" * (MAX_LAYOUT_KEY_BYTES + 1) and len(decoder) == 0
    ordinary = bytes(serialize_message(emotion(face_id="alice", labels=["happy", "sad"], probabilities=[0.5, 0.5])))
    decoder.decode(ordinary)
    assert len(decoder) == 1
