"""Fast CDR decode/encode == rosbags, and bag reading/writing == rosbags, in both storage formats."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from valence_ros.cdr import decode as cdr_decode
from valence_ros.offline.bag_reader import MSG_DEFINITIONS, BagError, BagReader, typestore
from valence_ros.offline.bag_writer import BagWriter
from valence_ros.offline.ros_distro import detect_ros_distro, rosbags_store_for
from valence_ros.cdr import (
    EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY, VALENCE, VALENCE_STATE, BatchDecoder, StringTable,
    encode_valence, encode_valence_state, split_stamp,
)

REPO = Path(__file__).resolve().parents[2]
STORE = typestore()
T = STORE.types


def replacing_typestore():
    """rosbags' typestore with its generated CDR decoders changed in one respect:
    strings are decoded as rclpy decodes them (invalid UTF-8 -> U+FFFD; the cut
    at the first NUL is made in `reference`). Every other check is rosbags' own: the reference for what the live node receives."""
    import rosbags.serde.cdr as cdr
    # a fresh instance (its own msgdef cache) of the store valence_ros uses on this distro
    store = get_typestore(Stores[rosbags_store_for(detect_ros_distro())])
    for name, text in MSG_DEFINITIONS.items():
        store.register(get_types_from_msg(text, name))
    compile_lines = cdr.compile_lines
    cdr.compile_lines = lambda lines: compile_lines(
        [line.replace(".decode()", '.decode("utf-8", "replace")') for line in lines])
    try:
        for name in (EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY, "std_msgs/msg/Header",
                     "builtin_interfaces/msg/Time", "std_msgs/msg/MultiArrayLayout",
                     "std_msgs/msg/MultiArrayDimension"):
            store.get_msgdef(name)
    finally:
        cdr.compile_lines = compile_lines
    return store


REFERENCE = replacing_typestore()


def ep_msg(sec=0, nanosec=0, frame_id="camera", face_id="", labels=(), probabilities=()):
    return T[EMOTION_PROBABILITIES](
        header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                        frame_id=frame_id),
        face_id=face_id, labels=list(labels), probabilities=np.asarray(probabilities, dtype=np.float32))


def fma_msg(dims=(), data=()):
    D = T["std_msgs/msg/MultiArrayDimension"]
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=[D(label=name, size=s, stride=r) for name, s, r in dims],
                                                data_offset=0)
    return T[FLOAT32_MULTI_ARRAY](layout=layout, data=np.asarray(data, dtype=np.float32))


def ser(msg, typename) -> bytes:
    return bytes(STORE.serialize_cdr(msg, typename))


def decode_all(datas, typename, table=None):
    """Run BatchDecoder over raw messages; per row (decoded fields) or None if undecodable."""
    lengths = np.array([len(d) for d in datas], dtype=np.int64)
    offsets = np.zeros(len(datas), dtype=np.int64)
    if len(datas) > 1:
        offsets[1:] = np.cumsum(lengths[:-1])
    buffer = np.frombuffer(b"".join(datas), dtype=np.uint8) if datas else np.zeros(0, np.uint8)
    decoder = BatchDecoder(typename, STORE, table)
    out = decoder.decode(buffer, offsets, lengths)
    values = {}
    for idx, block in out.blocks:
        assert block.dtype == np.float32 and block.shape[0] == len(idx)
        for i, row in zip(idx.tolist(), block):
            assert i not in values, "a row in two blocks"
            values[i] = row
    rows = []
    for i in range(len(datas)):
        if out.undecodable[i]:
            assert i not in values
            rows.append(None)
            continue
        rows.append(dict(sec=int(out.sec[i]), nanosec=int(out.nanosec[i]),
                         frame_id=decoder.strings[out.frame[i]], face_id=decoder.strings[out.face[i]],
                         labels=decoder.label_tuples[out.labels[i]], values=values[i]))
    return rows, decoder


def cut_nul(text: str) -> str:
    """rclpy decodes strlen(data) bytes: a string ends at its first NUL."""
    return text.split("\0", 1)[0]


def reference(data, typename):
    try:
        msg = REFERENCE.deserialize_cdr(data, typename)
    except Exception:
        return None
    if typename == FLOAT32_MULTI_ARRAY:
        return dict(values=np.asarray(msg.data, dtype=np.float32))
    return dict(sec=msg.header.stamp.sec, nanosec=msg.header.stamp.nanosec, frame_id=cut_nul(msg.header.frame_id),
                face_id=cut_nul(msg.face_id), labels=tuple(cut_nul(x) for x in msg.labels),
                values=np.asarray(msg.probabilities, dtype=np.float32))


def assert_same(row, ref, typename):
    if ref is None:
        assert row is None
        return
    assert row is not None
    assert row["values"].tobytes() == ref["values"].tobytes()   # bitwise, NaN included
    if typename == EMOTION_PROBABILITIES:
        for key in ("sec", "nanosec", "frame_id", "face_id", "labels"):
            assert row[key] == ref[key], key


# ---------------------------------------------------------------------- definitions


def test_embedded_definitions_equal_msg_files():
    for name, text in MSG_DEFINITIONS.items():
        path = REPO / "msg" / (name.rsplit("/", 1)[1] + ".msg")
        assert get_types_from_msg(text, name) == get_types_from_msg(path.read_text(), name), name


def test_type_hashes_match_rosidl_when_installed():
    import json
    from helpers.install import installed_share_dir
    share = (installed_share_dir() or REPO / "install" / "valence_ros" / "share" / "valence_ros") / "msg"
    if not (share / "Valence.json").is_file():
        pytest.skip("no colcon install space with rosidl type descriptions (run `make setup`)")
    for name in MSG_DEFINITIONS:
        description = json.loads((share / (name.rsplit("/", 1)[1] + ".json")).read_text())
        hashes = {h["type_name"]: h["hash_string"] for h in description["type_hashes"]}
        assert STORE.hash_rihs01(name) == hashes[name], name


# ---------------------------------------------------------------------- decoding

texts = st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=12)
floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
ep_strategy = st.builds(
    ep_msg,
    sec=st.integers(-2**31, 2**31 - 1), nanosec=st.integers(0, 2**32 - 1),
    frame_id=texts, face_id=texts, labels=st.lists(texts, max_size=4),
    probabilities=st.lists(floats32, max_size=10))


@pytest.fixture(params=[1, cdr_decode.SMALL_PARTITION, 10**9], ids=["all-vectorised", "default", "all-slow"])
def small_partition(request, monkeypatch):
    monkeypatch.setattr(cdr_decode, "SMALL_PARTITION", request.param)
    return request.param


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=ep_strategy, others=st.lists(ep_strategy, max_size=6), copies=st.integers(0, 12),
       seed=st.integers(0, 2**16))
def test_emotion_probabilities_decode_equals_rosbags(small_partition, base, others, copies, seed):
    rng = np.random.default_rng(seed)
    msgs = [base] + others
    # copies of the base layout with other numbers: exercises the uniform-layout path
    for _ in range(copies):
        msgs.append(ep_msg(int(rng.integers(-2**31, 2**31)), int(rng.integers(0, 2**32)),
                           base.header.frame_id, base.face_id, base.labels,
                           rng.random(len(base.probabilities)).astype(np.float32)))
    rng.shuffle(msgs)
    datas = [ser(m, EMOTION_PROBABILITIES) for m in msgs]
    rows, _ = decode_all(datas, EMOTION_PROBABILITIES)
    for data, row in zip(datas, rows):
        assert_same(row, reference(data, EMOTION_PROBABILITIES), EMOTION_PROBABILITIES)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dims=st.lists(st.tuples(texts, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=3),
       data=st.lists(floats32, max_size=10), copies=st.integers(0, 10))
def test_float32_multi_array_decode_equals_rosbags(small_partition, dims, data, copies):
    msgs = [fma_msg(dims, data)] + [fma_msg(dims, np.arange(len(data)) + k) for k in range(copies)]
    msgs.append(fma_msg((), (1.0, 2.0)))
    datas = [ser(m, FLOAT32_MULTI_ARRAY) for m in msgs]
    rows, _ = decode_all(datas, FLOAT32_MULTI_ARRAY)
    for d, row in zip(datas, rows):
        assert_same(row, reference(d, FLOAT32_MULTI_ARRAY), FLOAT32_MULTI_ARRAY)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msg=ep_strategy, cut=st.integers(0, 200), flips=st.lists(st.tuples(st.integers(0, 200),
                                                                         st.integers(0, 255)), max_size=3),
       extra=st.binary(max_size=5))
def test_corrupt_payloads_decode_like_rosbags(small_partition, msg, cut, flips, extra):
    """Truncated, bit-flipped and padded payloads: decoded exactly where rosbags decodes them
    (strings as rclpy decodes them), undecodable where rosbags' CDR checks fail."""
    good = ser(msg, EMOTION_PROBABILITIES)
    bad = bytearray(good[:max(0, len(good) - cut)] if cut % 3 == 0 else good)
    for pos, value in flips:
        if pos < len(bad):
            bad[pos] = value
    bad = bytes(bad) + (extra if cut % 2 else b"")
    datas = [bad] * 9 + [good]   # enough copies for the vectorised path
    rows, _ = decode_all(datas, EMOTION_PROBABILITIES)
    for data, row in zip(datas, rows):
        assert_same(row, reference(data, EMOTION_PROBABILITIES), EMOTION_PROBABILITIES)


def padding_positions(data: bytes) -> list[int]:
    """Offsets of the CDR alignment padding bytes of a little-endian EmotionProbabilities."""
    pads, pos = [], 4 + 8

    def u32(at):
        return struct.unpack_from("<I", data, at)[0]

    def align():
        nonlocal pos
        while (pos - 4) % 4:
            pads.append(pos)
            pos += 1

    pos += 4 + u32(pos)                    # frame_id
    align()
    pos += 4 + u32(pos)                    # face_id
    align()
    count = u32(pos)
    pos += 4
    for _ in range(count):
        align()
        pos += 4 + u32(pos)
    align()
    return pads


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msg=ep_strategy, junk=st.binary(min_size=64, max_size=64))
def test_padding_bytes_are_ignored(small_partition, msg, junk):
    """rclpy (Fast CDR) leaves alignment padding uninitialised: recorded bags carry
    arbitrary padding bytes, which must not change anything."""
    clean = ser(msg, EMOTION_PROBABILITIES)
    datas = []
    for k in range(10):
        dirty = bytearray(clean)
        for i, pos in enumerate(padding_positions(clean)):
            dirty[pos] = junk[(i + 7 * k) % len(junk)] | 1
        datas.append(bytes(dirty))
    rows, decoder = decode_all(datas, EMOTION_PROBABILITIES)
    want = reference(clean, EMOTION_PROBABILITIES)
    for row in rows:
        assert_same(row, want, EMOTION_PROBABILITIES)
    assert len(decoder.label_tuples) <= 2 and len(decoder._label_bytes_ids) <= 1   # one key per label list


def test_edge_layouts_and_big_endian():
    msgs = [
        ep_msg(face_id="", labels=(), probabilities=()),
        ep_msg(frame_id="", face_id="ünïcødé 👤", labels=("Happy", "", "contempt"), probabilities=(0.5, 0.5, 0)),
        ep_msg(frame_id="abc", face_id="a", labels=("x",) * 3, probabilities=(1,)),   # 1..3 byte padding
        ep_msg(frame_id="ab", face_id="abcd", probabilities=np.full(10, 0.1)),
    ]
    datas = []
    for m in msgs:
        datas += [ser(m, EMOTION_PROBABILITIES)] * 9
    big = bytes(STORE.serialize_cdr(msgs[1], EMOTION_PROBABILITIES, little_endian=False))
    datas += [big] * 9 + [b"", b"\x00\x01", b"\x00\x01\x00\x00", b"\x00\x03\x00\x00" + datas[0][4:]]
    rows, decoder = decode_all(datas, EMOTION_PROBABILITIES)
    for data, row in zip(datas, rows):
        assert_same(row, reference(data, EMOTION_PROBABILITIES), EMOTION_PROBABILITIES)
    assert rows[36]["face_id"] == "ünïcødé 👤"              # big-endian via the rosbags fallback
    assert decoder.fast_rows == 36 and decoder.slow_rows == 9
    assert rows[-4:] == [None] * 4


def ep_cdr(sec, nanosec, frame_id: bytes, face_id: bytes, labels, values, little=True) -> bytes:
    """EmotionProbabilities CDR with arbitrary string bytes (rosbags cannot build invalid UTF-8)."""
    e = "<" if little else ">"
    out = bytearray(b"\x00\x01\x00\x00" if little else bytes(4))

    def align():
        out.extend(bytes(-(len(out) - 4) % 4))

    def string(raw):
        align()
        out.extend(struct.pack(e + "I", len(raw) + 1) + raw + b"\0")

    out += struct.pack(e + "iI", sec, nanosec)
    string(frame_id)
    string(face_id)
    align()
    out += struct.pack(e + "I", len(labels))
    for label in labels:
        string(label)
    align()
    out += struct.pack(e + "I", len(values)) + np.asarray(values, dtype=e + "f4").tobytes()
    return bytes(out)


def rclpy_decoded(data: bytes) -> dict:
    """What the live node's subscription callback receives for these CDR bytes."""
    pytest.importorskip("rclpy", reason="rclpy is the reference here (a ROS venv; not in a plain pip install)")
    from rclpy.serialization import deserialize_message
    from valence_ros.msg import EmotionProbabilities
    msg = deserialize_message(data, EmotionProbabilities)
    return dict(sec=msg.header.stamp.sec, nanosec=msg.header.stamp.nanosec, frame_id=msg.header.frame_id,
                face_id=msg.face_id, labels=tuple(msg.labels),
                values=np.asarray(msg.probabilities, dtype=np.float32))


INVALID_UTF8 = [b"\xff", b"ab\xfe", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
                b"a\x80b\xc3(", "é".encode() + b"\xe9"]
# embedded NULs: rclpy's converter decodes strlen(data) bytes, so the string ends there
WITH_NUL = [b"\0", b"a\0b", b"\0\xff", b"\xc3\0", b"\xe2\x82\0\x82", b"ok\0\0", "é".encode() + b"\0\xe9",
            b"\xff\0x\xfe"]
raw_strings = st.one_of(st.sampled_from(INVALID_UTF8 + WITH_NUL),
                        st.binary(max_size=8).map(lambda b: b.replace(b"\0", b"\x80")),
                        st.binary(max_size=8), texts.map(str.encode))


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame_id=raw_strings, face_id=raw_strings, labels=st.lists(raw_strings, max_size=3),
       copies=st.integers(1, 12), little=st.booleans())
def test_invalid_utf8_strings_decode_like_rclpy(small_partition, frame_id, face_id, labels, copies, little):
    """Invalid UTF-8 in face_id, frame_id or labels: rclpy decodes it with U+FFFD and
    the node processes the frame; the offline decoder gives the very same strings
    (vectorised and one message at a time, either byte order) instead of dropping it.
    Embedded NULs: rclpy cuts the string at the first one; so does the offline decoder."""
    values = np.linspace(0.1, 0.9, len(labels) or 7).astype(np.float32)
    datas = [ep_cdr(7, 11 + k, frame_id, face_id, labels, values, little) for k in range(copies)]
    rows, _ = decode_all(datas, EMOTION_PROBABILITIES)
    for data, row in zip(datas, rows):
        want = rclpy_decoded(data)
        assert row is not None, "counted as undecodable"
        assert_same(row, want, EMOTION_PROBABILITIES)
        assert_same(row, reference(data, EMOTION_PROBABILITIES), EMOTION_PROBABILITIES)


def test_invalid_utf8_known_examples_and_malformed_stay_undecodable(monkeypatch):
    bad = [ep_cdr(1, 2, b"cam\xff", b"bob\xc3", [b"hap\xe2\x82py", b"sad"], (0.5, 0.5))] * 9
    for slow in (False, True):
        if slow:
            monkeypatch.setattr(cdr_decode, "SMALL_PARTITION", 10**9)
        rows, decoder = decode_all(bad, EMOTION_PROBABILITIES)
        assert rows[0]["frame_id"] == "cam\ufffd" and rows[0]["face_id"] == "bob\ufffd"
        assert rows[0]["labels"] == ("hap\ufffdpy", "sad")
        assert (decoder.fast_rows, decoder.slow_rows) == ((0, 9) if slow else (9, 0))
        assert rows[0] == {**rclpy_decoded(bad[0]), "values": rows[0]["values"]}
    # genuinely malformed CDR (with invalid UTF-8 too) is still undecodable
    good = bad[0]
    malformed = [good[:-5], good + bytes(4), good.replace(b"bob\xc3\0", b"bob\xc3x"),
                 good[:4] + good[4:12] + b"\xff\xff\xff\x7f" + good[16:]]
    rows, _ = decode_all(malformed, EMOTION_PROBABILITIES)
    assert rows == [None] * len(malformed)
    assert [cdr_decode.decode_replacing(good, EMOTION_PROBABILITIES)[i] for i in (2, 3, 4)] == [
        "cam\ufffd", "bob\ufffd", ("hap\ufffdpy", "sad")]


@pytest.mark.parametrize("slow", [False, True], ids=["vectorised", "slow"])
def test_float32_multi_array_with_invalid_utf8_dim_label(monkeypatch, slow):
    """The dim labels are not used, but rclpy decodes them (U+FFFD): the frame counts."""
    pytest.importorskip("rclpy", reason="rclpy is the reference here (a ROS venv; not in a plain pip install)")
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import Float32MultiArray
    if slow:
        monkeypatch.setattr(cdr_decode, "SMALL_PARTITION", 10**9)
    for raw, label in ((b"x\xffz", "x\ufffdz"), (b"x\0z", "x"), (b"\xff\0\xfe", "\ufffd")):
        data = ser(fma_msg([("xyz", 7, 7)], np.arange(7)), FLOAT32_MULTI_ARRAY).replace(b"xyz", raw)
        assert deserialize_message(data, Float32MultiArray).layout.dim[0].label == label
        rows, _ = decode_all([data] * 9, FLOAT32_MULTI_ARRAY)
        for row in rows:
            assert row is not None and row["values"].tolist() == list(range(7))
    assert cdr_decode.rclpy_string(b"\xff\0\xfe") == "\ufffd"


def test_embedded_nul_known_examples(monkeypatch):
    """rclpy: face_id b"a\\0b" -> 'a' (strlen); offline, vectorised or not, the same."""
    data = ep_cdr(1, 2, b"cam\0era", b"a\0b", [b"hap\0py", b"\0", b"s\xffd\0\xff"], (0.2, 0.3, 0.5))
    want = {"frame_id": "cam", "face_id": "a", "labels": ("hap", "", "s\ufffdd")}
    got = rclpy_decoded(data)
    assert {k: got[k] for k in want} == want
    for slow in (False, True):
        if slow:
            monkeypatch.setattr(cdr_decode, "SMALL_PARTITION", 10**9)
        rows, _ = decode_all([data] * 9, EMOTION_PROBABILITIES)
        assert all({k: row[k] for k in want} == want for row in rows)
    assert cdr_decode.decode_replacing(data, EMOTION_PROBABILITIES)[2:5] == ("cam", "a", ("hap", "", "s\ufffdd"))


def test_string_table_is_shared_and_stable_across_batches():
    table = StringTable()
    a, _ = decode_all([ser(ep_msg(face_id="bob"), EMOTION_PROBABILITIES)] * 10, EMOTION_PROBABILITIES, table)
    b, _ = decode_all([ser(ep_msg(face_id="amy"), EMOTION_PROBABILITIES)] * 10, EMOTION_PROBABILITIES, table)
    assert table.strings[:1] == [""] and {"bob", "amy", "camera"} <= set(table.strings)
    assert table.utf8 == [s.encode() for s in table.strings]


# ---------------------------------------------------------------------- encoding

encode_case = st.lists(st.tuples(texts, texts, st.integers(-2**31 * 10**9, 2**31 * 10**9 - 1), floats32, floats32,
                                 st.sampled_from([-1, 0, 1])), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rows=encode_case, prefix=st.sampled_from([0, 31]))
def test_encoders_equal_rosbags_serialize(rows, prefix):
    table = StringTable()
    frames = np.array([table.id(r[0]) for r in rows])
    faces = np.array([table.id(r[1]) for r in rows])
    sec, nanosec = split_stamp(np.array([r[2] for r in rows]))
    a = np.array([r[3] for r in rows], dtype=np.float32)
    b = np.array([r[4] for r in rows], dtype=np.float32)
    state = np.array([r[5] for r in rows], dtype=np.int8)
    buf, offs, sizes = encode_valence(sec, nanosec, frames, faces, table.utf8, a, b, prefix=prefix)
    sbuf, soffs, ssizes = encode_valence_state(sec, nanosec, frames, faces, table.utf8, state, a,
                                               prefix=prefix)
    assert offs[0] == 0 and (np.diff(offs) == sizes[:-1]).all() and len(buf) == sizes.sum()
    H, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    for i, (frame_id, face_id, *_rest) in enumerate(rows):
        header = H(stamp=Time(sec=int(sec[i]), nanosec=int(nanosec[i])), frame_id=frame_id)
        want = ser(T[VALENCE](header=header, face_id=face_id, valence=a[i], raw_valence=b[i]), VALENCE)
        assert buf[offs[i] + prefix:offs[i] + sizes[i]].tobytes() == want
        assert not buf[offs[i]:offs[i] + prefix].any()
        want = ser(T[VALENCE_STATE](header=header, face_id=face_id, state=int(state[i]), valence=a[i]),
                   VALENCE_STATE)
        assert sbuf[soffs[i] + prefix:soffs[i] + ssizes[i]].tobytes() == want


@pytest.mark.parametrize("encode", [encode_valence, encode_valence_state])
def test_encoders_refuse_stamps_that_do_not_fit_ros_time(encode):
    """sec is int32 and nanosec uint32 in builtin_interfaces/Time: no silent wrapping."""
    table = StringTable()
    one = np.zeros(1, dtype=np.int64)

    def run(sec, nanosec):
        return encode(np.array([sec]), np.array([nanosec]), one, one, table.utf8,
                      np.zeros(1, np.float32), np.zeros(1, np.float32))

    for sec, nanosec in ((2**31, 0), (-2**31 - 1, 0), (3_000_000_000, 0), (0, 2**32), (0, -1)):
        with pytest.raises(ValueError, match="builtin_interfaces/Time"):
            run(sec, nanosec)
    for sec, nanosec in ((2**31 - 1, 2**32 - 1), (-2**31, 0)):   # the extremes still encode
        buf, offs, sizes = run(sec, nanosec)
        assert struct.unpack_from("<iI", buf, 4) == (sec, nanosec)


def test_split_stamp():
    sec, nanosec = split_stamp(np.array([0, 1, 1_999_999_999, -1, 1_700_000_000_123_456_789]))
    assert sec.tolist() == [0, 0, 1, -1, 1_700_000_000]
    assert nanosec.tolist() == [0, 1, 999_999_999, 999_999_999, 123_456_789]


# ---------------------------------------------------------------------- bags


def write_bag(path: Path, storage: str, topics: dict, compression=None):
    """topics: {name: (typename, [(log_ns, bytes)])}; written with rosbags' own Writer."""
    writer = Writer(path, version=9, storage_plugin=StoragePlugin[storage.upper()])
    if compression is not None:
        writer.set_compression(compression, CompressionFormat.ZSTD)
    with writer:
        conns = {name: writer.add_connection(name, typename, typestore=STORE)
                 for name, (typename, _) in topics.items()}
        events = sorted((t, name, i, data) for name, (_, msgs) in topics.items()
                        for i, (t, data) in enumerate(msgs))
        for t, name, _, data in events:
            writer.write(conns[name], t, data)
    return path


def sample_topics(n=300, seed=0):
    rng = np.random.default_rng(seed)
    faces = ["a", "bb", "ccc"]
    ep = []
    for i in range(n):
        stamp = 1_700_000_000_000_000_000 + i * 33_333_333
        m = ep_msg(stamp // 10**9, stamp % 10**9, "cam", faces[i % 3], (),
                   rng.dirichlet(np.ones(7)).astype(np.float32))
        ep.append((stamp + 1_000_000 * (i % 4), ser(m, EMOTION_PROBABILITIES)))   # some equal log times
    other = [(1_700_000_000_000_000_000 + i * 50_000_000, ser(fma_msg((), (i, i)), FLOAT32_MULTI_ARRAY))
             for i in range(n // 3)]
    string = [(1_700_000_000_000_000_000 + i * 10**8, ser(T["std_msgs/msg/String"](data=str(i)),
                                                          "std_msgs/msg/String")) for i in range(10)]
    return {"/fer/emotion_probabilities": (EMOTION_PROBABILITIES, ep),
            "/array": (FLOAT32_MULTI_ARRAY, other), "/chatter": ("std_msgs/msg/String", string)}


def rosbags_messages(path, topics):
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        return [(c.topic, t, bytes(d)) for c, t, d in reader.messages(conns)]


def batched_messages(path, topics, batch_size):
    with BagReader(path) as reader:
        out = []
        for batch in reader.batches(topics, batch_size):
            for i in range(len(batch)):
                o, n = int(batch.offsets[i]), int(batch.lengths[i])
                out.append((topics[batch.topic[i]], int(batch.log_ns[i]), batch.buffer[o:o + n].tobytes()))
        return out, reader.fast_path_used


@pytest.mark.parametrize("storage,compression,fast", [
    ("sqlite3", None, "sqlite3"), ("mcap", None, "mcap"), ("mcap", CompressionMode.STORAGE, "mcap"),
    ("mcap", CompressionMode.MESSAGE, None), ("sqlite3", CompressionMode.FILE, "sqlite3")])
@pytest.mark.parametrize("batch_size", [7, 1000])
def test_batches_equal_rosbags_order_and_bytes(tmp_path, storage, compression, fast, batch_size):
    bag = write_bag(tmp_path / "bag", storage, sample_topics(), compression)
    for topics in (["/fer/emotion_probabilities"], ["/array", "/fer/emotion_probabilities"]):
        got, used = batched_messages(bag, topics, batch_size)
        assert got == rosbags_messages(bag, topics)
        assert used == fast


def test_reader_accepts_single_storage_files_and_lists_topics(tmp_path):
    for storage, suffix in (("sqlite3", ".db3"), ("mcap", ".mcap")):
        bag = write_bag(tmp_path / storage, storage, sample_topics(30))
        with BagReader(bag / f"{storage}{suffix}") as reader:
            assert reader.storage_format == storage
            assert reader.topics["/fer/emotion_probabilities"].count == 30
            assert [t.name for t in reader.topics_of_type(FLOAT32_MULTI_ARRAY)] == ["/array"]
            assert "EmotionProbabilities" in reader.topics["/fer/emotion_probabilities"].msgdef or \
                "probabilities" in reader.topics["/fer/emotion_probabilities"].msgdef


@pytest.mark.parametrize("path_kind", ["missing", "empty_dir", "text_file", "truncated"])
def test_reader_errors_are_one_line(tmp_path, path_kind):
    target = tmp_path / "x"
    if path_kind == "empty_dir":
        target.mkdir()
    elif path_kind == "text_file":
        target = tmp_path / "x.txt"
        target.write_text("hello")
    elif path_kind == "truncated":
        bag = write_bag(tmp_path / "bag", "mcap", sample_topics(30))
        data = (bag / "bag.mcap").read_bytes()
        (bag / "bag.mcap").write_bytes(data[: len(data) // 2])
        target = bag
    with pytest.raises(BagError) as info:
        with BagReader(target) as reader:
            list(reader.batches(["/fer/emotion_probabilities"]))
    assert "\n" not in str(info.value) and str(info.value)


@pytest.mark.parametrize("storage,json_insert", [("sqlite3", True), ("sqlite3", False), ("mcap", None)])
def test_bag_writer_round_trip(tmp_path, storage, json_insert, monkeypatch):
    """Bulk-written Valence/ValenceState rows read back by rosbags AnyReader: same
    messages, order, log times, topics, types and QoS; message definitions stored."""
    table = StringTable()
    rng = np.random.default_rng(1)
    n = 500
    faces = np.array([table.id(f) for f in ("a", "face_10", "ü")])[rng.integers(0, 3, n)]  # 3 sizes
    frames = np.full(n, table.id("camera"))
    sec, nanosec = split_stamp(1_700_000_000_000_000_000 + np.arange(n) * 16_666_667)
    log = 1_700_000_000_000_000_000 + np.arange(n) * 16_666_667 + 5
    val, raw = rng.uniform(-1, 1, n).astype(np.float32), rng.uniform(-1, 1, n).astype(np.float32)
    state = rng.integers(-1, 2, n).astype(np.int8)
    changed = rng.random(n) < 0.2
    writer = BagWriter(tmp_path / "out", storage)
    if storage == "sqlite3":       # the JSON1 bulk insert and the executemany fallback
        monkeypatch.setattr(writer._writer.storage, "_json", json_insert)
    cv = writer.add_topic("/ns/valence", VALENCE)
    cs = writer.add_topic("/ns/valence_state", VALENCE_STATE)
    for part in (slice(0, 200), slice(200, n)):   # two batches
        buf, offs, sizes = encode_valence(sec[part], nanosec[part], frames[part], faces[part], table.utf8,
                                          val[part], raw[part], prefix=writer.prefix)
        writer.write_records(cv, log[part], buf, offs, sizes)
        ch = changed[part]
        buf, offs, sizes = encode_valence_state(sec[part][ch], nanosec[part][ch], frames[part][ch],
                                                faces[part][ch], table.utf8, state[part][ch], val[part][ch],
                                                prefix=writer.prefix)
        writer.write_records(cs, log[part][ch], buf, offs, sizes)
    writer.close()
    with AnyReader([tmp_path / "out"]) as reader:
        conns = {c.topic: c for c in reader.connections}
        assert {t: (c.msgtype, c.msgcount) for t, c in conns.items()} == {
            "/ns/valence": (VALENCE, n), "/ns/valence_state": (VALENCE_STATE, int(changed.sum()))}
        assert conns["/ns/valence_state"].ext.offered_qos_profiles[0].durability.name == "TRANSIENT_LOCAL"
        got_v, got_s = [], []
        for conn, t, data in reader.messages():
            msg = reader.deserialize(data, conn.msgtype)
            (got_v if conn.topic == "/ns/valence" else got_s).append((t, msg))
    assert [t for t, _ in got_v] == log.tolist()
    for i, (_, m) in enumerate(got_v):
        assert (m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) == (sec[i], nanosec[i], "camera")
        assert m.face_id == table.strings[faces[i]]
        assert np.float32(m.valence) == val[i] and np.float32(m.raw_valence) == raw[i]
    idx = np.flatnonzero(changed)
    assert [t for t, _ in got_s] == log[idx].tolist()
    assert [m.state for _, m in got_s] == state[idx].tolist()
    # the definitions travel with the bag: a typestore without our types reads it
    with Reader(tmp_path / "out") as plain:
        assert all("face_id" in c.msgdef.data for c in plain.connections)


def test_mcap_fast_writer_chunks_are_indexed(tmp_path):
    """Several MCAP chunks: the message index we build lets the reader's fast path and
    rosbags agree on every message."""
    table = StringTable()
    n = 40_000
    faces = np.full(n, table.id("f"))
    sec, nanosec = split_stamp(np.arange(n) * 1000)
    writer = BagWriter(tmp_path / "out", "mcap")
    conn = writer.add_topic("/valence", VALENCE)
    for start in range(0, n, 10_000):
        part = slice(start, start + 10_000)
        buf, offs, sizes = encode_valence(sec[part], nanosec[part], faces[part], faces[part], table.utf8,
                                          np.ones(10_000, np.float32), np.ones(10_000, np.float32),
                                          prefix=writer.prefix)
        writer.write_records(conn, np.arange(n)[part] * 1000, buf, offs, sizes)
    writer.close()
    with BagReader(tmp_path / "out") as reader:
        assert len(reader._storages[0].chunks) > 1
    got, used = batched_messages(tmp_path / "out", ["/valence"], 4096)
    assert used == "mcap" and got == rosbags_messages(tmp_path / "out", ["/valence"])
    assert struct.unpack("<Q", got[0][2][4:8] + bytes(4))[0] == 0
