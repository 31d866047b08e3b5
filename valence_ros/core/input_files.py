"""Refuse paths that are not regular files before anything opens them.

open() on a named pipe blocks until a writer appears (forever, and Python
retries the call after every signal, so SIGINT/SIGTERM cannot end it); a
device such as /dev/zero never ends; a sparse multi-GB file read whole
exhausts memory. Every path that comes in from a user (weights, config.json,
params files, bags and the files inside them, CSV exports) is checked here
first: stat() only, which never blocks. Files we read ourselves are opened
with O_NONBLOCK and checked again on the open descriptor (fstat), so a path
swapped for a FIFO between the check and the open is refused too.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any, Iterable

__all__ = ["InputFileError", "check_regular_file", "check_input_path", "open_regular",
           "read_regular_bytes", "read_regular_text", "ros_args_files", "MiB"]

MiB = 1024 * 1024
# What the functions here accept as a path.
StrPath = str | os.PathLike[str]


class InputFileError(ValueError):
    """A path that must not be opened; str() is one line naming the path and why."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)   # follows symlinks: a link to a FIFO is a FIFO
    except FileNotFoundError:
        raise InputFileError(f"{path}: {what} not found (no such file or directory)") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot access {what}: {error.strerror}") from None


def _refuse(path: Path, what: str, mode: int, allowed: str) -> InputFileError:
    return InputFileError(f"{path}: {what} is {_kind(mode)}; {allowed}")


def check_regular_file(path: StrPath, what: str = "file", max_bytes: int | None = None) -> Path:
    """`path` as a Path if it names a regular file (at most `max_bytes` long),
    else InputFileError. Never opens the path."""
    path = Path(path)
    st = _stat(path, what)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, what, st.st_mode, "expected a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputFileError(f"{path}: {what} is {st.st_size / MiB:.0f} MiB; "
                             f"the limit is {max_bytes / MiB:.0f} MiB")
    return path


def check_input_path(path: StrPath, what: str = "input") -> str:
    """'file' or 'directory' for a regular file or directory, else InputFileError."""
    path = Path(path)
    st = _stat(path, what)
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    raise _refuse(path, what, st.st_mode, "expected a regular file or a directory")


def open_regular(path: StrPath, what: str = "file", max_bytes: int | None = None, mode: str = "rb",
                 **kwargs: Any) -> IO[Any]:
    """Open a regular file for reading without ever blocking on a FIFO: check,
    open with O_NONBLOCK, check the open descriptor again, then clear O_NONBLOCK."""
    path = check_regular_file(path, what, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise InputFileError(f"{path}: cannot open {what}: {error.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, what, st.st_mode, "expected a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise InputFileError(f"{path}: {what} is larger than {max_bytes / MiB:.0f} MiB")
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: StrPath, what: str = "file", max_bytes: int | None = None) -> bytes:
    with open_regular(path, what, max_bytes) as fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:   # grew after the check
        raise InputFileError(f"{path}: {what} is larger than {max_bytes / MiB:.0f} MiB")
    return data


def read_regular_text(path: StrPath, what: str = "file", max_bytes: int | None = None,
                      encoding: str = "utf-8") -> str:
    return read_regular_bytes(path, what, max_bytes).decode(encoding)


def ros_args_files(argv: Iterable[str] | None) -> list[tuple[str, str]]:
    """(option, path) of every file rcl would open from a command line:
    `--params-file F` and `--log-config-file F` inside `--ros-args ... [--]`."""
    found, in_ros, it = [], False, iter(argv or ())
    for token in it:
        if token == "--ros-args":
            in_ros = True
        elif token == "--":
            in_ros = False
        elif in_ros and token in ("--params-file", "--log-config-file"):
            value = next(it, None)
            if value is not None:
                found.append((token, value))
    return found
