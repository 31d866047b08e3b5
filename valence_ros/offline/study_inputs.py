"""What a study analyses: the paths given, folders searched recursively, unique session names.

A path is analysed as one input when it is what a single-input run takes (a
bag directory with metadata.yaml, a .db3/.mcap file, a CSV/TSV export, or
anything else, which then fails as it would alone). A folder without
metadata.yaml is searched recursively for bag directories, lone .db3/.mcap
files and .csv/.tsv exports (.txt only with FaceReader's emotion header, so
notes are not taken for exports). Hidden entries, symlinked folders and
valence_analyze's own outputs (summary.json + valence.csv, or study.json)
are skipped; only regular files are taken.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from valence_ros.offline.errors import AnalyzeError, printable

__all__ = ["StudyInput", "collect_inputs", "is_folder_of_inputs", "output_dir_name"]

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


def _is_output(filenames: list[str]) -> bool:
    return ("summary.json" in filenames and "valence.csv" in filenames) or "study.json" in filenames


def _has_facereader_header(path: Path) -> bool:
    from valence_ros.offline.facereader_csv import CsvInputError, FaceReaderCsv
    try:
        FaceReaderCsv(path).close()
    except CsvInputError:
        return False
    return True


def find_inputs(folder: Path) -> list[Path]:
    """Inputs below `folder`, in sorted walk order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):   # does not follow symlinked folders
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if _is_output(filenames):
            dirnames[:] = []
            continue
        if "metadata.yaml" in filenames:
            found.append(here)
            dirnames[:] = []
            continue
        for name in sorted(filenames):
            path = here / name
            suffix = path.suffix.lower()
            if name.startswith(".") or suffix not in BAG_SUFFIXES + CSV_SUFFIXES:
                continue
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
            except OSError:
                continue
            if suffix != ".txt" or _has_facereader_header(path):
                found.append(path)
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


def collect_inputs(paths: list[Path]) -> list[StudyInput]:
    """The study's inputs, sorted by session name (the order of every table)."""
    found: list[Path] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        if is_folder_of_inputs(path):
            below = find_inputs(path)
            if not below:
                raise AnalyzeError(f"{given}: not a rosbag2 bag (no metadata.yaml in the directory), "
                                   "and no bags or CSV/TSV exports below it")
            found += below
        else:
            found.append(path)
    found = list(dict.fromkeys(found))   # a file given twice (or found twice) is one input
    names = name_sessions(found)
    inputs = [StudyInput(p, p.is_file() and p.suffix.lower() in CSV_SUFFIXES, n) for p, n in zip(found, names)]
    return sorted(inputs, key=lambda i: i.session)


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
