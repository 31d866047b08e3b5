"""Canary for rosbags' storage internals (valence_ros/offline/rosbags_internals.py):
after a rosbags upgrade this fails naming each internal member that is gone."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from valence_ros.cdr import VALENCE
from valence_ros.offline import rosbags_internals
from valence_ros.offline.bag_reader import typestore
from valence_ros.offline.rosbags_internals import (
    McapReader, McapWriter, Sqlite3Reader, Sqlite3Writer, missing_members, missing_type_members, storage_readers,
)

REPO = Path(__file__).resolve().parents[2]
STORAGES = {"sqlite3": (StoragePlugin.SQLITE3, Sqlite3Writer, Sqlite3Reader),
            "mcap": (StoragePlugin.MCAP, McapWriter, McapReader)}


def test_record_types_have_the_members_used():
    assert missing_type_members() == [], "rosbags upgrade removed internal members"


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_writer_and_reader_objects_have_the_members_used(tmp_path, storage):
    plugin, writer_cls, reader_cls = STORAGES[storage]
    msg = typestore().types[VALENCE]
    data = bytes(typestore().serialize_cdr(msg(header=typestore().types["std_msgs/msg/Header"](
        stamp=typestore().types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="c"),
        face_id="f", valence=0.5, raw_valence=0.5), VALENCE))
    writer = Writer(tmp_path / "bag", version=9, storage_plugin=plugin)
    writer.open()
    connection = writer.add_connection("/valence", VALENCE, typestore=typestore())
    writer.write(connection, 5, data)
    missing = missing_members(writer, "Writer")
    assert isinstance(writer.storage, writer_cls), f"Writer.storage is no longer a {writer_cls.__name__}"
    missing += missing_members(writer.storage, writer_cls.__name__)
    if storage == "mcap":
        missing += missing_members(writer.storage.chunk, "PendingChunk")
    writer.close()

    reader = Reader(tmp_path / "bag")
    reader.open()
    try:
        missing += missing_members(reader, "Reader")
        storages = storage_readers(reader)
        assert [type(s) for s in storages] == [reader_cls], \
            f"storage_readers(Reader) no longer finds the {reader_cls.__name__} (Reader.storage.storages)"
        missing += missing_members(storages[0], reader_cls.__name__)
        if storage == "mcap":
            assert storages[0].chunks, "McapReader.chunks is empty for an indexed file"
            missing += missing_members(storages[0].chunks[0], "ChunkInfo")
            missing += missing_members(storages[0].statistics, "Statistics")
    finally:
        reader.close()
    assert missing == [], "rosbags upgrade removed internal members"


def test_missing_members_names_the_member():
    """The canary's message names what is gone (kind.member)."""
    assert missing_members(object(), "Sqlite3Reader") == ["Sqlite3Reader.dbconn", "Sqlite3Reader.connections"]


def test_only_rosbags_internals_imports_rosbags_private_modules():
    """rosbags' documented API is rosbags.rosbag2 (and highlevel, typesys,
    interfaces); its storage plugin modules are imported in one place only."""
    documented = {"rosbags.rosbag2", "rosbags.highlevel", "rosbags.typesys", "rosbags.interfaces"}
    offenders = []
    for path in sorted((REPO / "valence_ros").rglob("*.py")) + sorted((REPO / "bench").rglob("*.py")):
        if path.name == "rosbags_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}: {name}" for name in names
                          if name.startswith("rosbags") and name not in documented]
    assert offenders == [], rosbags_internals.__name__ + " is the only home of rosbags' internals"
