"""core.input_files: paths that are not regular files are refused before anything opens them."""
import os
import socket
import threading

import pytest

from valence_ros.core.input_files import (
    MiB,
    InputFileError,
    check_input_path,
    check_regular_file,
    open_regular,
    read_regular_bytes,
    ros_args_files,
)


@pytest.fixture
def hostile(tmp_path):
    """name -> path of each kind of thing that is not a regular file."""
    paths = {"fifo": tmp_path / "pipe.yaml", "directory": tmp_path / "dir",
             "link_to_fifo": tmp_path / "link.yaml", "char_device": "/dev/zero",
             "null_device": "/dev/null", "dangling_link": tmp_path / "dangling.yaml"}
    os.mkfifo(paths["fifo"])
    paths["directory"].mkdir()
    os.symlink(paths["fifo"], paths["link_to_fifo"])
    os.symlink(tmp_path / "gone", paths["dangling_link"])
    sock = socket.socket(socket.AF_UNIX)
    paths["socket"] = tmp_path / "s.sock"
    sock.bind(str(paths["socket"]))
    yield paths
    sock.close()


EXPECTED = {"fifo": "named pipe", "directory": "directory", "link_to_fifo": "named pipe",
            "char_device": "character device", "null_device": "character device",
            "dangling_link": "not found", "socket": "socket"}


def _never_blocks(call):
    """Run call() in a thread; a blocking open() would leave it running."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=_capture(call)), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "blocked"
    return box["result"]


def _capture(call):
    try:
        return call()
    except Exception as error:  # returned for the assertions
        return error


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_non_regular_path_is_refused_without_blocking(hostile, kind):
    path = hostile[kind]
    for call in (lambda: check_regular_file(path, "weights file"),
                 lambda: open_regular(path, "weights file"),
                 lambda: read_regular_bytes(path, "weights file")):
        error = _never_blocks(call)
        assert isinstance(error, InputFileError), error
        assert EXPECTED[kind] in str(error) and str(path) in str(error) and "\n" not in str(error)


def test_directories_allowed_only_where_asked(hostile, tmp_path):
    assert check_input_path(hostile["directory"]) == "directory"
    (tmp_path / "f.csv").write_text("x\n")
    assert check_input_path(tmp_path / "f.csv") == "file"
    for kind in ("fifo", "char_device", "socket", "link_to_fifo"):
        with pytest.raises(InputFileError, match="expected a regular file or a directory"):
            check_input_path(hostile[kind])


def test_size_limit_refuses_sparse_files_unread(tmp_path):
    sparse = tmp_path / "huge.pt"
    with open(sparse, "wb") as fh:
        fh.truncate(3 * 1024 * MiB)       # 3 GiB, no disk blocks
    with pytest.raises(InputFileError, match="3072 MiB; the limit is 256 MiB"):
        read_regular_bytes(sparse, "weights file", 256 * MiB)
    small = tmp_path / "small"
    small.write_bytes(b"abc")
    assert read_regular_bytes(small, "x", 3) == b"abc"
    with pytest.raises(InputFileError):
        read_regular_bytes(small, "x", 2)


def test_open_regular_reads_normally(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("héllo\nworld\n", encoding="utf-8")
    with open_regular(path, "text", mode="r", encoding="utf-8", newline="") as fh:
        assert fh.readline() == "héllo\n" and fh.read() == "world\n"
        assert os.get_blocking(fh.fileno())     # O_NONBLOCK cleared after the check


def test_ros_args_files():
    argv = ["node", "--params-file", "not_ros.yaml", "--ros-args", "-p", "a:=1", "--params-file",
            "a.yaml", "--log-config-file", "log.conf", "--", "--params-file", "user.yaml",
            "--ros-args", "--params-file", "b.yaml", "--params-file"]
    assert ros_args_files(argv) == [("--params-file", "a.yaml"), ("--log-config-file", "log.conf"),
                                    ("--params-file", "b.yaml")]
    assert ros_args_files(None) == []
