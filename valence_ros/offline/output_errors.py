"""Output that cannot be written (a full disk, a quota, a read-only file system, an I/O
error): one plain line naming the output, and its own exit code, instead of "internal error".

The failure surfaces in many shapes - OSError from a file write (errno ENOSPC), sqlite's
"database or disk is full" from the output bag, pyarrow's IOError from frames.parquet, in
the writer thread or the main one, directly or as the cause of another error -;
output_write_error() recognises them all.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from valence_ros.offline.errors import printable

__all__ = ["EXIT_OUTPUT", "OutputWriteError", "output_write_error"]

EXIT_OUTPUT = 4

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_CANNOT_WRITE = {errno.EROFS, errno.EIO, errno.EFBIG}
_SQLITE_FULL = 13


class OutputWriteError(Exception):
    """The output could not be written; str() is the one line printed (exit EXIT_OUTPUT)."""


def _causes(error: BaseException):
    seen = 0
    while error is not None and seen < 10:
        yield error
        error = error.__cause__ or error.__context__
        seen += 1


def output_write_error(error: BaseException, output: Path) -> OutputWriteError | None:
    """The OutputWriteError for `error` raised while writing `output`, or None if it is
    not a failed write."""
    for e in _causes(error):
        if isinstance(e, OutputWriteError):
            return e
        text = str(e)
        code = getattr(e, "errno", None)
        name = os.path.basename(getattr(e, "filename", None) or "") or None
        where = f" (writing {printable(name)})" if name else ""
        if (code in _NO_SPACE or getattr(e, "sqlite_errorcode", None) == _SQLITE_FULL
                or "No space left on device" in text or "database or disk is full" in text
                or "Disk quota exceeded" in text):
            return OutputWriteError(f"no space left on {printable(output)}{where}; nothing written there")
        if code in _CANNOT_WRITE:
            return OutputWriteError(f"cannot write {printable(output)}{where}: {os.strerror(code)}; "
                                    "nothing written there")
    return None
