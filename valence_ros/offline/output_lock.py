"""An output directory's claim: two valence_analyze runs never write to one --out at once.

A run takes ``.<DIR name>.lock`` next to DIR (flock, exclusive, not waiting) before it
looks at DIR and holds it until DIR is in place or abandoned; a second run on the same
DIR, --overwrite or not, ends at once with "another valence_analyze run is writing DIR".
The kernel drops the lock when its process dies, so a killed run blocks nothing (its
empty lock file stays; the next run takes it over). The file is removed on release;
a run that opened it just before checks that the path still names the file it locked
(and retries otherwise), so the claim stays exclusive.

rename_noreplace() is the final rename without --overwrite: renameat2(RENAME_NOREPLACE),
so a DIR made meanwhile by anything else (a tool that takes no lock) is never replaced;
where the kernel or file system lacks it, an existence check just before the rename.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
from pathlib import Path

__all__ = ["OutputLock", "OutputBusy", "lock_path", "rename_noreplace"]


class OutputBusy(Exception):
    """Another run holds the output directory."""


def lock_path(final: Path) -> Path:
    return final.parent / f".{final.name}.lock"


class OutputLock:
    def __init__(self, final: Path):
        self.path = lock_path(final)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise OutputBusy(f"{final}: another valence_analyze run is writing it "
                                 f"(pid {holder or '?'} holds {self.path})") from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)   # released and removed by its holder between our open and flock
        self._fd: int | None = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)    # while still held: see the module docstring
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


_libc = None


def _renameat2():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return getattr(_libc, "renameat2", None)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename src to dst; FileExistsError if dst exists (never replaced)."""
    func = _renameat2()
    if func is not None:
        if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):   # not supported here: fall back below
            raise OSError(err, os.strerror(err), str(dst))   # EEXIST: FileExistsError
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)
