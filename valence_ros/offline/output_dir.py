"""An analysis's output directory, in one place: created atomically, claimed against
other runs, failed writes reported in one line. Used by a recording's session and a study.

``OutputDir``: everything is written into ``DIR.tmp-XXXX`` next to DIR and renamed to
DIR only when complete; on any error the temporary directory is removed, so a DIR that
exists is always a finished analysis. run_context.RUN.remove_unfinished() removes what
an interrupted run left behind (the last step of a run, after its helper threads).

The claim (``OutputLock``): two valence_analyze runs never write to one --out at once.
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

Failed writes (``output_write_error()``): output that cannot be written (a full disk, a
quota, a read-only file system, an I/O error) gives one plain line naming the output, and
its own exit code (program.EXIT_OUTPUT), instead of "internal error". The failure
surfaces in many shapes - OSError from a file write (errno ENOSPC), sqlite's "database or
disk is full" from the output bag, pyarrow's IOError from frames.parquet, in the writer
thread or the main one, directly or as the cause of another error -;
output_write_error() recognises them all.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from valence_ros.offline.errors import AnalyzeError, printable
from valence_ros.offline.run_context import RUN

__all__ = ["OutputDir", "OutputError",
           "OutputLock", "OutputBusy", "lock_path", "rename_noreplace",
           "OutputWriteError", "output_write_error"]


class OutputError(AnalyzeError):
    """The output directory cannot be created or replaced; one line for the user (exit 2)."""


# ---------------------------------------------------------------------- the claim (lock)


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


# ---------------------------------------------------------------------- failed writes


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_CANNOT_WRITE = {errno.EROFS, errno.EIO, errno.EFBIG}
_SQLITE_FULL = 13


class OutputWriteError(Exception):
    """The output could not be written; str() is the one line printed (exit EXIT_OUTPUT)."""


def _causes(error: BaseException | None):
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


# ---------------------------------------------------------------------- the directory


class OutputDir:
    """Atomic output: files go to DIR.tmp-XXXX; commit() renames it to DIR. DIR is claimed
    (OutputLock) from the start to the end: a second run on it fails at once."""

    def __init__(self, final: Path, overwrite: bool = False):
        self.final = Path(final)
        self.overwrite = overwrite
        parent = self.final.parent
        if not parent.is_dir():
            raise OutputError(f"{parent}: parent of the output directory does not exist")
        with RUN.signals_held():   # claimed, created and registered, or none of them
            try:
                self._lock = OutputLock(self.final)
            except OutputBusy as error:
                raise OutputError(str(error)) from None
            except OSError as error:
                raise (output_write_error(error, self.final)
                       or OutputError(f"{parent}: cannot create the output directory ({error.strerror})")) from None
            RUN.add_claim(self._lock)
            try:
                self._check_final()
                self.tmp = Path(tempfile.mkdtemp(prefix=self.final.name + ".tmp-", dir=parent))
            except OSError as error:
                self._release()
                raise (output_write_error(error, self.final)
                       or OutputError(f"{parent}: cannot create the output directory ({error.strerror})")) from None
            except BaseException:
                self._release()
                raise
            RUN.add_unfinished(self.tmp)
        os.chmod(self.tmp, 0o755)

    def _check_final(self) -> None:
        if os.path.lexists(self.final) and not self.overwrite:
            raise OutputError(f"{self.final}: output directory exists (use --overwrite to replace it)")
        if os.path.lexists(self.final) and (self.final.is_symlink() or not self.final.is_dir()):
            raise OutputError(f"{self.final}: exists and is not a directory")

    def _release(self) -> None:
        RUN.release_claim(self._lock)

    def commit(self) -> None:
        old = None
        with RUN.final_step():   # not after Ctrl-C/SIGTERM, and not cut in half by one
            self._check_final()   # made meanwhile by something that takes no claim
            if self.overwrite and os.path.lexists(self.final):
                old = Path(tempfile.mkdtemp(prefix=self.final.name + ".old-", dir=self.final.parent))
                os.rmdir(old)
                os.rename(self.final, old)
            try:
                rename_noreplace(self.tmp, self.final)
            except FileExistsError:
                raise OutputError(f"{self.final}: output directory appeared during the run "
                                  "(use --overwrite to replace it)") from None
            RUN.committed(self.tmp)
            self._release()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Remove the temporary output. It stays registered: a helper thread not yet
        joined (the writer, opening the bag) can still create files in it, and
        RUN.remove_unfinished(), which runs after the helpers are joined, removes those
        (SIGTERM right after the start left DIR.tmp-XXXX/valence_bag behind in 2 of
        100 runs on a loaded machine)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._release()
