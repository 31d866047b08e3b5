"""The one home of rosbags' storage internals used by valence_ros.

rosbags documents ``rosbags.rosbag2`` (Reader, Writer, StoragePlugin, ...) as
its API; its storage plugins (``rosbags.rosbag2.storage_mcap``,
``rosbags.rosbag2.storage_sqlite3``) and the attributes of its Reader, Writer
and storage objects are internals that may change in any release. The fast
bulk paths of ``bag_writer`` (a multi-row INSERT, whole runs of MCAP records)
and ``bag_reader`` (an MCAP chunk sliced with numpy, one SQL query) need them:
rosbags' per-message API costs more than the offline tool's per-frame budget.

Every such name is imported here and nowhere else, and every internal member
read or written by those paths is listed in ``INTERNAL_MEMBERS``;
test/offline/test_rosbags_internals.py checks each against the installed
rosbags and names the first one an upgrade removes, so the exact rosbags pin
in requirements.txt can move with confidence: bump it, run that test.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from rosbags.rosbag2.storage_mcap import (
    ChunkInfo, McapReader, McapWriter, PendingChunk, Statistics, decompress, read_exact,
    write_record, write_string, write_uint16, write_uint32, write_uint64,
)
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader, Sqlite3Writer

if TYPE_CHECKING:   # for annotations only: rosbags.typesys exports get_typestore, not its class
    from rosbags.typesys.store import Typestore  # noqa: F401  (bag_reader's annotations)

__all__ = [
    "INTERNAL_MEMBERS", "McapReader", "McapWriter", "PendingChunk", "Sqlite3Reader", "Sqlite3Writer",
    "decompress", "missing_members", "missing_type_members", "read_exact", "storage_readers",
    "write_record", "write_string", "write_uint16", "write_uint32", "write_uint64",
]

# Members of rosbags objects that bag_writer / bag_reader use (beyond the names
# imported above), by the object they are read from. "Writer" and "Reader" are
# rosbags.rosbag2's, opened; the storage objects are the ones they open.
INTERNAL_MEMBERS: dict[str, tuple[str, ...]] = {
    # bag_writer: the bulk writers are installed as the Writer's storage plugins and
    # update the Writer's counters the way Writer.write does.
    "Writer": ("STORAGE_PLUGINS", "storage", "counts", "min_timestamp", "max_timestamp"),
    "Sqlite3Writer": ("cursor",),
    "McapWriter": ("bio", "chunk", "chunks", "close_chunk", "compression", "compressor",
                   "channel_stats", "message_start_time", "message_end_time"),
    "PendingChunk": ("message_start_time", "message_end_time", "bio", "msgs"),
    # bag_reader: the storages of an opened Reader and their chunk index.
    "Reader": ("storage",),
    "Sqlite3Reader": ("dbconn", "connections"),
    "McapReader": ("bio", "chunks", "statistics", "connections"),
    "ChunkInfo": ("message_start_time", "message_end_time", "chunk_start_offset", "message_index_offsets",
                  "compression", "compressed_size", "uncompressed_size", "channel_count"),
    "Statistics": ("message_count",),
}

_TYPES: dict[str, type] = {
    "McapWriter": McapWriter, "Sqlite3Writer": Sqlite3Writer, "PendingChunk": PendingChunk,
    "McapReader": McapReader, "Sqlite3Reader": Sqlite3Reader, "ChunkInfo": ChunkInfo, "Statistics": Statistics,
}


def _field_names(cls: type) -> set[str]:
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls)}
    return set(getattr(cls, "_fields", ()))   # NamedTuple


def missing_type_members() -> list[str]:
    """'Type.member' for each listed member of a record type (dataclass or
    NamedTuple: ChunkInfo, PendingChunk, Statistics) or method that the
    installed rosbags lacks. Attributes set in __init__ need an instance:
    see missing_members."""
    missing = []
    for kind, cls in _TYPES.items():
        fields = _field_names(cls)
        if not fields:
            continue
        missing += [f"{kind}.{name}" for name in INTERNAL_MEMBERS[kind] if name not in fields]
    missing += [f"McapWriter.{name}" for name in ("close_chunk",) if not callable(getattr(McapWriter, name, None))]
    return missing


def missing_members(obj: object, kind: str) -> list[str]:
    """'kind.member' for each member in INTERNAL_MEMBERS[kind] that `obj` (an
    opened rosbags object of that kind) lacks."""
    return [f"{kind}.{name}" for name in INTERNAL_MEMBERS[kind] if not hasattr(obj, name)]


def storage_readers(reader: object) -> list:
    """The storage readers (Sqlite3Reader / McapReader) of an opened
    rosbags.rosbag2.Reader: one per storage file of a bag directory, or the
    single file's own."""
    storage = reader.storage   # type: ignore[attr-defined]
    return getattr(storage, "storages", None) or [storage]
