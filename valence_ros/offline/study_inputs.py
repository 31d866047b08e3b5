"""What a study analyses: the paths given, folders searched recursively, unique session names.

A path is analysed as one input when it is what a single-input run takes (a
bag directory with metadata.yaml, a .db3/.mcap file, a CSV/TSV export, or
anything else, which then fails as it would alone). A folder without
metadata.yaml is searched recursively for bag directories, lone .db3/.mcap
files and .csv/.tsv exports (.txt only with FaceReader's emotion header, so
notes are not taken for exports).

Symlinks: a symlinked file is an input when it resolves to a regular file,
inside the folder or outside it (git-annex and DataLad keep recordings so); its
session is named after the link. A symlinked folder is an input when it is a
bag; any other is not searched (a link can loop, or lead anywhere). One file
reached twice (two links, or a link and the file) is one input.

Every entry the search does not take is reported with its reason (Skipped):
hidden entries, files of other types, notes (.txt that is no export), FIFOs and
devices, broken links, links to folders, folders that cannot be read, one
file reached twice, and valence_analyze's own outputs (a folder with
study.json + sessions.csv, or summary.json + valence.csv, whose JSON names
valence_analyze as its tool: a participant's own study.json is no output).
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from valence_ros.core.input_files import InputFileError, open_regular
from valence_ros.offline.errors import AnalyzeError, printable

__all__ = ["StudyInput", "Skipped", "collect_inputs", "is_folder_of_inputs", "output_dir_name"]

BAG_SUFFIXES = (".db3", ".mcap")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class StudyInput:
    path: Path       # absolute
    is_csv: bool
    session: str     # unique in the study: the name of the input in the tables


def is_folder_of_inputs(path: Path) -> bool:
    """A directory that is not itself a bag: searched for inputs."""
    return path.is_dir() and not (path / "metadata.yaml").exists()


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


_OUTPUT_MARKERS = (("study.json", "sessions.csv"), ("summary.json", "valence.csv"))
_OUR_TOOL = b'"tool": "valence_analyze"'


def _is_output(here: Path, filenames: list[str]) -> bool:
    """A folder valence_analyze wrote (its JSON starts with {"tool": "valence_analyze", ...)."""
    for marker, companion in _OUTPUT_MARKERS:
        if marker in filenames and companion in filenames:
            try:
                with open_regular(here / marker, "output marker") as f:
                    if _OUR_TOOL in f.read(64):
                        return True
            except (InputFileError, OSError):
                pass
    return False


def _not_an_export(path: Path) -> str | None:
    """None for a FaceReader .txt export, else why it is not one."""
    from valence_ros.offline.facereader_csv import CsvInputError, FaceReaderCsv
    try:
        FaceReaderCsv(path).close()
    except CsvInputError as error:
        return f"a .txt file that is no FaceReader export ({error})"
    return None


def _why_not(path: Path, name: str, seen: dict) -> str | None:
    """None if the file `path` (named `name` in its folder) is an input, else why not."""
    if name.startswith("."):
        return "hidden"
    suffix = Path(name).suffix.lower()
    if suffix not in BAG_SUFFIXES + CSV_SUFFIXES:
        return f"not a bag file or CSV/TSV export ({suffix or 'no suffix'})"
    try:
        st = os.stat(path)   # follows a symlink: its target decides
    except FileNotFoundError:
        return "broken symlink" if os.path.islink(path) else "vanished during the search"
    except OSError as error:
        return f"cannot access: {error.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a FIFO, device or socket)"
    first = seen.setdefault((st.st_dev, st.st_ino), path)
    if first != path:
        return f"the same file as {printable(first)}"
    if suffix == ".txt":
        return _not_an_export(path)
    return None


def find_inputs(folder: Path, skipped: list[Skipped], seen: dict | None = None) -> list[Path]:
    """Inputs below `folder`, in sorted walk order; what is not taken goes to `skipped`."""
    found = []
    seen = {} if seen is None else seen   # (device, inode) -> first path: one file, one input

    def unreadable(error: OSError) -> None:
        skipped.append(Skipped(Path(error.filename), f"folder not searched: {error.strerror}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):   # follows no symlinked folder
        here = Path(dirpath)
        if _is_output(here, filenames):
            skipped.append(Skipped(here, "a valence_analyze output"))
            dirnames[:] = []
            continue
        if "metadata.yaml" in filenames:
            found.append(here)
            dirnames[:] = []
            continue
        searched = []
        for name in sorted(dirnames):
            path = here / name
            if name.startswith("."):
                skipped.append(Skipped(path, "hidden"))
            elif os.path.islink(path):
                if os.path.isfile(path / "metadata.yaml"):
                    found.append(path)   # a linked bag: taken whole, never searched
                else:
                    skipped.append(Skipped(path, "symlink to a folder that is no bag (not searched)"))
            else:
                searched.append(name)
        dirnames[:] = searched
        for name in sorted(filenames):
            path = here / name
            reason = _why_not(path, name, seen)
            if reason is None:
                found.append(path)
            else:
                skipped.append(Skipped(path, reason))
    return found


def _stem(path: Path) -> str:
    name = path.name
    for suffix in BAG_SUFFIXES + CSV_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def name_sessions(paths: list[Path]) -> list[str]:
    """Session name = the input's file or directory name without its suffix; inputs
    sharing one get their path relative to the inputs' common folder instead
    (without, then with the suffix), '/'-separated. Names are text (errors.printable:
    a file name's non-UTF-8 bytes as \\xNN); names that are still equal - only text
    that equals another name's escapes can be - get ~2, ~3, ... in path order."""
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    names = [_stem(p) for p in paths]
    for keep_suffix in (False, True):
        clash = {n for n in names if names.count(n) > 1}
        if not clash:
            break
        for i, (p, n) in enumerate(zip(paths, names)):
            if n in clash:
                rel = p.relative_to(root)
                names[i] = rel.as_posix() if keep_suffix else (rel.parent / _stem(rel)).as_posix()
    names = [printable(n) for n in names]
    taken = set(names)
    seen: set[str] = set()
    for i in sorted(range(len(paths)), key=lambda i: os.fsencode(paths[i])):
        if names[i] in seen:
            k = 2
            while f"{names[i]}~{k}" in taken:
                k += 1
            names[i] = f"{names[i]}~{k}"
            taken.add(names[i])
        seen.add(names[i])
    return names


def collect_inputs(paths: list[Path]) -> tuple[list[StudyInput], list[Skipped]]:
    """The study's inputs, sorted by session name (the order of every table), and the
    entries the folder search did not take."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        if is_folder_of_inputs(path):
            before = len(skipped)
            below = find_inputs(path, skipped)
            if not below:
                why = "; ".join(f"{printable(s.path.relative_to(path) if s.path.is_relative_to(path) else s.path)}: "
                                f"{s.reason}" for s in skipped[before:before + 3])
                raise AnalyzeError(f"{given}: not a rosbag2 bag (no metadata.yaml in the directory), "
                                   "and no bags or CSV/TSV exports below it"
                                   + (f" (skipped {len(skipped) - before}: {why}"
                                      f"{'; ...' if len(skipped) - before > 3 else ''})" if why else ""))
            found += below
        else:
            found.append(path)
    found = list(dict.fromkeys(found))   # a file given twice (or found twice) is one input
    names = name_sessions(found)
    inputs = [StudyInput(p, p.is_file() and p.suffix.lower() in CSV_SUFFIXES, n) for p, n in zip(found, names)]
    return sorted(inputs, key=lambda i: i.session), skipped


_ESCAPED = re.compile(r"[%/\x00-\x1f\x7f]|^\.")   # % itself, the separator, control characters, a leading dot
_NAME_MAX = 255                                      # bytes in a directory name (Linux file systems)
_SUFFIX = "_valence"


def output_dir_name(session: str) -> str:
    """The input's own output directory inside the study directory: <session>_valence with
    '%', '/', control characters and a leading '.' percent-encoded (p01/rec -> p01%2Frec), so
    distinct sessions never share a directory (p01__rec stays p01__rec). A name too long
    for the file system keeps its first 150 bytes plus '%~' and a hash of the session ('%~'
    is no percent-escape, so it meets no other name)."""
    name = _ESCAPED.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), session)
    if len(name.encode()) + len(_SUFFIX) > _NAME_MAX:
        head = name.encode()[:150].decode("utf-8", "ignore")
        name = f"{head}%~{hashlib.sha256(session.encode()).hexdigest()[:16]}"
    return name + _SUFFIX
