"""rosbag2 input through rosbags: topics by type, batched raw reads.

Reading: ``BagReader`` opens a rosbag2 directory (sqlite3 or MCAP) or a
single ``.db3``/``.mcap`` file with ``rosbags.rosbag2.Reader`` and streams the
selected topics as ``RawBatch``es of raw CDR bytes (memory stays flat: one
batch at a time). For MCAP bags with chunk and message indexes (what both
rosbags and ``ros2 bag record`` write) there is a fast path that reads each
chunk once and slices every message out of it with numpy using the chunk's
message index, instead of building a Python object per message; it yields
the same messages in the same order as rosbags' ``messages()`` (checked in
the tests) and falls back to it for anything else (unindexed or message-
compressed files, chunks overlapping in time).

The message definitions of valence_ros are embedded below (a test checks
they equal msg/*.msg), so a pip-installed tool needs no ROS install space.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Iterator

import numpy as np
import yaml
from rosbags.rosbag2 import Reader, StoragePlugin
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from valence_ros.cdr import EMOTION_PROBABILITIES, VALENCE, VALENCE_STATE
from valence_ros.core.input_files import MiB, InputFileError, check_input_path, check_regular_file, read_regular_bytes
from valence_ros.offline.rosbags_internals import McapReader, Sqlite3Reader, decompress, read_exact, storage_readers
from valence_ros.process.cli_errors import one_line

if TYPE_CHECKING:
    from valence_ros.offline.rosbags_internals import Typestore

__all__ = [
    "BagError", "BagReader", "RawBatch", "TopicInfo", "MSG_DEFINITIONS",
    "typestore", "STORAGE_FORMATS", "MCAP_RECORD_PREFIX", "MCAP_PREFIX_DTYPE",
]

# Field definitions of msg/*.msg (comments dropped; test_bag_io checks they match).
MSG_DEFINITIONS = {
    EMOTION_PROBABILITIES: (
        "std_msgs/Header header\n"
        "string face_id\n"
        "string[] labels\n"
        "float32[] probabilities\n"),
    VALENCE: (
        "std_msgs/Header header\n"
        "string face_id\n"
        "float32 valence\n"
        "float32 raw_valence\n"),
    VALENCE_STATE: (
        "int8 NEGATIVE=-1\n"
        "int8 NEUTRAL=0\n"
        "int8 POSITIVE=1\n"
        "int8 UNKNOWN=2\n"
        "std_msgs/Header header\n"
        "string face_id\n"
        "int8 state\n"
        "float32 valence\n"),
}

# metadata.yaml of a long recording is tens of kB; the limit stops a sparse or
# huge file from being read into memory whole.
MAX_METADATA_BYTES = 16 * MiB

STORAGE_FORMATS = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}

# An MCAP Message record's fixed prefix (numpy dtype MCAP_PREFIX_DTYPE; the writer fills it in):
# op (1) + record length (8) + channel id (2) + sequence (4) + log time (8) + publish time (8)
MCAP_RECORD_PREFIX = 31
MCAP_PREFIX_DTYPE = np.dtype([("op", "u1"), ("length", "<u8"), ("channel", "<u2"), ("sequence", "<u4"),
                              ("log_time", "<u8"), ("publish_time", "<u8")])
assert MCAP_PREFIX_DTYPE.itemsize == MCAP_RECORD_PREFIX


class BagError(Exception):
    """A bag that cannot be read or written; the message is one line for the user."""


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """rosbags typestore of this process's ROS 2 distro (ros_distro) with the
    valence_ros messages registered."""
    from valence_ros.offline.ros_distro import detect_ros_distro, rosbags_store_for
    store = get_typestore(Stores[rosbags_store_for(detect_ros_distro())])
    types = {}
    for name, text in MSG_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


# ---------------------------------------------------------------------- reading


@dataclass
class TopicInfo:
    name: str
    msgtype: str
    count: int
    msgdef: str          # message definition stored in the bag ('' if none)
    connection_ids: tuple[int, ...]


@dataclass
class RawBatch:
    """n raw messages in bag order: payload i is buffer[offsets[i]: offsets[i] + lengths[i]]."""

    buffer: np.ndarray    # uint8
    offsets: np.ndarray   # int64
    lengths: np.ndarray   # int64
    topic: np.ndarray     # int16 index into the selected topic list
    log_ns: np.ndarray    # int64 receive (log) time

    def __len__(self) -> int:
        return len(self.offsets)


def _concat(batches: list[RawBatch]) -> RawBatch:
    if len(batches) == 1:
        return batches[0]
    shift = np.cumsum([0] + [len(b.buffer) for b in batches[:-1]])
    return RawBatch(
        buffer=np.concatenate([b.buffer for b in batches]),
        offsets=np.concatenate([b.offsets + s for b, s in zip(batches, shift)]),
        lengths=np.concatenate([b.lengths for b in batches]),
        topic=np.concatenate([b.topic for b in batches]),
        log_ns=np.concatenate([b.log_ns for b in batches]),
    )


def _raw_batch(datas, times, topic) -> RawBatch:
    n = len(datas)
    lengths = np.fromiter(map(len, datas), dtype=np.int64, count=n)
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return RawBatch(buffer=np.frombuffer(b"".join(datas), dtype=np.uint8), offsets=offsets,
                    lengths=lengths, topic=topic, log_ns=np.fromiter(times, dtype=np.int64, count=n))


def _check_bag_files(path: Path) -> None:
    """Refuse, before rosbags opens anything, a bag that is or holds a FIFO, a
    device or a socket (open() on a FIFO blocks forever) or a metadata.yaml too
    big to read whole. Stat only, except metadata.yaml (read with a size limit
    to find the storage files it names)."""
    try:
        if check_input_path(path, "bag") == "file":
            return
        meta = path / "metadata.yaml"
        if not os.path.lexists(meta):
            return   # reported by the caller: not a rosbag2 bag
        text = read_regular_bytes(meta, "bag metadata", MAX_METADATA_BYTES)
        try:
            info = yaml.safe_load(text)["rosbag2_bagfile_information"]
            names = [PurePath(str(name)).name for name in info["relative_file_paths"]]
        except Exception:   # malformed metadata: rosbags reports it
            return
        for name in names:
            if os.path.lexists(path / name):
                check_regular_file(path / name, "bag storage file")
    except InputFileError as error:
        raise BagError(str(error)) from None


class BagReader:
    """A rosbag2 bag opened for reading (context manager)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        _check_bag_files(path)
        if path.is_dir() and not (path / "metadata.yaml").exists():
            raise BagError(f"{path}: not a rosbag2 bag (no metadata.yaml in the directory)")
        if path.is_file() and path.suffix not in (".db3", ".mcap"):
            raise BagError(f"{path}: not a rosbag2 bag (expected a bag directory, .db3 or .mcap file)")
        self.path = path
        try:
            self._reader = Reader(path)
            self._reader.open()
        except Exception as error:  # ReaderError, apsw/sqlite errors, OSError, struct errors...
            raise BagError(f"{path}: cannot open bag: {one_line(error)}") from None
        storages = storage_readers(self._reader)
        self._storages = storages
        self.storage_format = "mcap" if isinstance(storages[0], McapReader) else "sqlite3"
        # Topics as the storage holds them, as rosbag2 reads them (`ros2 bag play` plays
        # what the storage holds): metadata.yaml is only a summary, and one that names
        # another topic must not turn the recording into "0 frames, success".
        by_topic: dict[str, list] = {}
        for storage in storages:
            for conn in storage.connections:
                by_topic.setdefault(conn.topic, []).append(conn)
        self.topics: dict[str, TopicInfo] = {}
        for name, conns in by_topic.items():
            self.topics[name] = TopicInfo(
                name=name,
                msgtype=conns[0].msgtype,
                count=sum(c.msgcount for c in conns),
                msgdef=next((c.msgdef.data for c in conns if c.msgdef is not None and c.msgdef.data), ""),
                connection_ids=tuple(c.id for c in conns),
            )
        listed = {(c.topic, c.msgtype) for c in self._reader.connections}
        held = {(t.name, t.msgtype) for t in self.topics.values()}
        self.metadata_mismatch: str | None = None   # what metadata.yaml gets wrong, if anything
        if listed != held:
            def show(pairs):
                return ", ".join(f"{n} ({t})" for n, t in sorted(pairs)) or "none"
            self.metadata_mismatch = (
                f"metadata.yaml lists {show(listed - held)} but the storage holds {show(held - listed)}; "
                "topics are read from the storage, as rosbag2 does")
        self.fast_path_used: str | None = None   # "mcap" / "sqlite3" once a fast reader ran

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def topics_of_type(self, msgtype: str) -> list[TopicInfo]:
        return [t for t in self.topics.values() if t.msgtype == msgtype]

    # -- iteration

    def batches(self, topics: list[str], batch_size: int = 65536) -> Iterator[RawBatch]:
        """Messages of `topics` in bag order (rosbags' order), in batches of about batch_size."""
        try:
            fast = self._mcap_plan(topics)
            if fast is not None:
                self.fast_path_used = "mcap"
                yield from self._mcap_batches(fast, batch_size)
            elif self._sqlite_ok():
                self.fast_path_used = "sqlite3"
                yield from self._sqlite_batches(topics, batch_size)
            else:
                yield from self._generic_batches(topics, batch_size)
        except BagError:
            raise
        except Exception as error:
            raise BagError(f"{self.path}: cannot read bag: {one_line(error)}") from None

    def _generic_batches(self, topics, batch_size):
        wanted = {t: i for i, t in enumerate(topics)}
        # The storage's own connections (see __init__), matched by rosbags on topic and type
        conns = [c for storage in self._storages for c in storage.connections if c.topic in wanted]
        messages = self._reader.messages(conns)
        while True:
            rows = list(islice(messages, batch_size))
            if not rows:
                return
            conn_list, times, datas = zip(*rows)
            topic = np.fromiter((wanted[c.topic] for c in conn_list), dtype=np.int16, count=len(rows))
            yield _raw_batch(datas, times, topic)

    def _sqlite_ok(self) -> bool:
        return (self.storage_format == "sqlite3"
                and getattr(self._reader, "compression_mode", None) != "message"
                and all(isinstance(st, Sqlite3Reader) and st.dbconn is not None for st in self._storages))

    def _sqlite_batches(self, topics, batch_size):
        """rosbags' own query (same order), without building a Connection per row."""
        wanted = {t: i for i, t in enumerate(topics)}
        for storage in self._storages:
            topic_of = {c.id: wanted[c.topic] for c in storage.connections if c.topic in wanted}
            if not topic_of:
                continue
            ids = tuple(topic_of)
            cursor = storage.dbconn.execute(
                "SELECT topics.id,messages.timestamp,messages.data "
                "FROM messages JOIN topics ON messages.topic_id=topics.id "
                f"WHERE topics.id IN ({','.join('?' for _ in ids)}) ORDER BY timestamp", ids)
            single = len(topic_of) == 1
            while True:
                rows = list(islice(cursor, batch_size))
                if not rows:
                    break
                cids, times, datas = zip(*rows)
                n = len(rows)
                if single:
                    topic = np.full(n, next(iter(topic_of.values())), dtype=np.int16)
                else:
                    topic = np.fromiter(map(topic_of.__getitem__, cids), dtype=np.int16, count=n)
                yield _raw_batch(datas, times, topic)

    def _mcap_plan(self, topics):
        """[(storage, chunks, {channel id: topic index})] when the MCAP fast path applies."""
        if self.storage_format != "mcap":
            return None
        if getattr(self._reader, "compression_mode", None) == "message":
            return None
        wanted = {t: i for i, t in enumerate(topics)}
        plan = []
        for storage in self._storages:
            if not isinstance(storage, McapReader) or storage.bio is None:
                return None
            channels = {c.id: wanted[c.topic] for c in storage.connections if c.topic in wanted}
            chunks = [c for c in storage.chunks if any(c.channel_count.get(cid, 0) for cid in channels)]
            if not storage.chunks and storage.statistics and storage.statistics.message_count:
                return None   # unchunked / unindexed file: rosbags scans it
            for chunk in chunks:
                if not all(cid in chunk.message_index_offsets for cid in channels
                           if chunk.channel_count.get(cid, 0)):
                    return None
            # rosbags merges chunks by (time, chunk offset); reading them one
            # after the other gives the same order only if they do not overlap.
            for a, b in zip(chunks, chunks[1:]):
                if not (b.message_start_time > a.message_end_time
                        or (b.message_start_time == a.message_end_time
                            and b.chunk_start_offset > a.chunk_start_offset)):
                    return None
            plan.append((storage, chunks, channels))
        return plan

    def _mcap_batches(self, plan, batch_size):
        pending: list[RawBatch] = []
        count = 0
        for storage, chunks, channels in plan:
            for chunk in chunks:
                batch = self._read_mcap_chunk(storage.bio, chunk, channels)
                if batch is None or not len(batch):
                    continue
                pending.append(batch)
                count += len(batch)
                if count >= batch_size:
                    yield _concat(pending)
                    pending, count = [], 0
        if pending:
            yield _concat(pending)

    @staticmethod
    def _read_mcap_chunk(bio, chunk, channels) -> RawBatch | None:
        start = chunk.chunk_start_offset
        bio.seek(start + 9 + 24)
        (crc,) = struct.unpack("<I", read_exact(bio, 4))
        bio.seek(start + 9 + 40 + len(chunk.compression))
        raw = decompress(read_exact(bio, chunk.compressed_size), chunk.compression,
                         chunk.uncompressed_size, crc)
        buf = np.frombuffer(raw, dtype=np.uint8)
        logs, offs, tops, cids = [], [], [], []
        for cid, topic in channels.items():
            if not chunk.channel_count.get(cid, 0):
                continue
            bio.seek(chunk.message_index_offsets[cid])
            op, _length, channel, size = struct.unpack("<BQHI", read_exact(bio, 15))
            if op != 0x07 or channel != cid or size % 16:
                raise BagError("corrupt MCAP message index")
            entries = np.frombuffer(read_exact(bio, size), dtype="<u8").reshape(-1, 2)
            logs.append(entries[:, 0].astype(np.int64))
            offs.append(entries[:, 1].astype(np.int64))
            tops.append(np.full(len(entries), topic, dtype=np.int16))
            cids.append(np.full(len(entries), cid, dtype=np.int64))
        if not logs:
            return None
        log_ns, offsets, topic, cid = (np.concatenate(x) for x in (logs, offs, tops, cids))
        order = np.lexsort((offsets, log_ns))   # rosbags: stable sort by log time
        log_ns, offsets, topic, cid = log_ns[order], offsets[order], topic[order], cid[order]
        if len(offsets) and (offsets.min() < 0 or offsets.max() + MCAP_RECORD_PREFIX > len(buf)):
            raise BagError("corrupt MCAP chunk: message index points outside the chunk")
        head = np.lib.stride_tricks.sliding_window_view(buf, MCAP_RECORD_PREFIX)[offsets]
        head = np.ascontiguousarray(head).view(MCAP_PREFIX_DTYPE)[:, 0]
        length = head["length"].astype(np.int64)
        if (np.any(head["op"] != 0x05) or np.any(head["channel"] != cid) or np.any(length < 22)
                or np.any(offsets + 9 + length > len(buf))
                or np.any(head["log_time"].astype(np.int64) != log_ns)):
            raise BagError("corrupt MCAP chunk: message records do not match the message index")
        return RawBatch(buffer=buf, offsets=offsets + MCAP_RECORD_PREFIX, lengths=length - 22,
                        topic=topic, log_ns=log_ns)
