"""FaceReader-style CSV/TSV exports as offline input.

What lab studies have: Noldus FaceReader "detailed log" exports (and similar
tables from other tools) - a time column plus one column per emotion:
Neutral, Happy, Sad, Angry, Surprised, Scared, Disgusted (any order, any case,
aliases such as Happiness/Fear accepted). Accepted layouts:

* delimiter: tab, comma or semicolon (detected from the header row); a
  decimal comma ("0,25") is accepted when the delimiter is not a comma;
* metadata lines before the header row are skipped (FaceReader writes some);
* time column, first found of: "Video Time" / "Time" (HH:MM:SS.fff, MM:SS.fff
  or seconds), "time_s", "Time (s)", "timestamp", "seconds"; seconds may be
  fractional. Parsed exactly into integer nanoseconds. A time must fit a ROS
  stamp and clock: 0 <= t < 2**31 s (builtin_interfaces/Time.sec is int32;
  the time also serves as the node clock and the bag log time, which cannot
  be negative); other times are rejected as "bad_time";
* optional "face_id" column (otherwise every row is face "");
* rows whose emotion cells are not numbers (FaceReader writes FIT_FAILED /
  FIND_FAILED when it lost the face) are rejected and counted by reason.

FaceReader intensities are independent per emotion and do not sum to 1. The
model was trained on normalised per-frame probabilities, so rows are
normalised to sum 1 (the pipeline runs with an unlimited sum_tolerance for
CSV input; zero and negative rows are still rejected).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, cast

import numpy as np

from valence_ros.core.emotions import EMOTIONS
from valence_ros.core.input_files import InputFileError, open_regular
from valence_ros.core.labels import canonical_name

__all__ = ["CsvInputError", "CsvBatch", "FaceReaderCsv", "MAX_TIME_NS", "TIME_COLUMNS", "parse_time_ns"]

TIME_COLUMNS = ("video time", "time", "time_s", "time (s)", "time(s)", "timestamp", "seconds")
FACE_COLUMNS = ("face_id", "face id", "face")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_HEADER_SCAN_LINES = 200
MAX_LINE_CHARS = 1 << 20   # a FaceReader row is ~200 characters
# Latest time a ROS stamp holds: sec = 2**31 - 1 (int32), nanosec = 999999999.
MAX_TIME_NS = 2**31 * 1_000_000_000 - 1

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+)(?:[.,](\d+))?$")
_SECONDS = re.compile(r"^([+-]?)(\d*)(?:[.,](\d*))?$")


class CsvInputError(Exception):
    """A CSV file that cannot be used; one line for the user."""


def parse_time_ns(text: str) -> int | None:
    """Integer nanoseconds of "HH:MM:SS.fff", "MM:SS.fff" or "12.345" (seconds); None if invalid."""
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        hours, minutes, seconds, fraction = m.groups()
        whole = (int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)
        frac_ns = int((fraction or "").ljust(9, "0")[:9] or 0)
        return whole * 1_000_000_000 + frac_ns
    m = _SECONDS.match(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole_s, fraction = m.groups()
        ns = int(whole_s or 0) * 1_000_000_000 + int((fraction or "").ljust(9, "0")[:9] or 0)
        return -ns if sign == "-" else ns
    try:   # scientific notation and the like
        value = float(text)
    except ValueError:
        return None
    return round(value * 1e9) if math.isfinite(value) else None


@dataclass
class CsvBatch:
    stamp_ns: np.ndarray    # int64, rows with valid time and values only
    face: list[str]
    values: np.ndarray      # float32 (k, 7) in `labels` order
    rejected: dict[str, int]


def _rows(reader, path):
    try:
        yield from reader
    except csv.Error as error:   # e.g. a field over csv.field_size_limit()
        raise CsvInputError(f"{path}: not a readable CSV/TSV export ({error})") from None


class FaceReaderCsv:
    """Reads an export in batches; ``labels`` is the emotion column order."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file = open_regular(self.path, "CSV file", mode="r", newline="",
                                      encoding="utf-8-sig", errors="strict")
        except InputFileError as error:
            raise CsvInputError(str(error)) from None
        try:
            head = []
            for _ in range(_HEADER_SCAN_LINES):
                line = self._readline()
                if not line:
                    break
                head.append(line)
        except (OSError, UnicodeDecodeError) as error:
            self._file.close()
            raise CsvInputError(f"{self.path}: cannot read CSV file ({error})") from None
        except CsvInputError:
            self._file.close()
            raise
        found = None
        for number, line in enumerate(head):
            for delimiter in ("\t", ";", ","):
                cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
                names = {canonical_name(c) for c in cells}
                if set(EMOTIONS) <= names:
                    found = (number, delimiter, cells)
                    break
            if found:
                break
        if found is None:
            self._file.close()
            raise CsvInputError(
                f"{self.path}: no header row with the emotion columns "
                f"{', '.join(e.capitalize() for e in EMOTIONS)} (tab, comma or semicolon separated)")
        number, self.delimiter, cells = found
        lowered = [c.lower() for c in cells]
        self.time_column = next((lowered.index(n) for n in TIME_COLUMNS if n in lowered), None)
        if self.time_column is None:
            self._file.close()
            raise CsvInputError(f"{self.path}: no time column (one of: "
                                f"{', '.join(repr(n) for n in TIME_COLUMNS)})")
        self.face_column = next((lowered.index(n) for n in FACE_COLUMNS if n in lowered), None)
        self.emotion_columns = []
        seen = set()
        for i, cell in enumerate(cells):
            name = canonical_name(cell)
            if name in EMOTIONS and name not in seen:
                seen.add(name)
                self.emotion_columns.append(i)
        self.labels = tuple(cells[i] for i in self.emotion_columns)
        self.columns = cells
        self.header_line = number + 1
        self._rest = head[number + 1:]
        self.decimal_comma = self.delimiter != ","

    def _readline(self) -> str:
        """One line, at most MAX_LINE_CHARS long (a sparse or binary file has no
        line breaks: it must not be read into memory whole)."""
        line = self._file.readline(MAX_LINE_CHARS + 1)
        if len(line) > MAX_LINE_CHARS:
            raise CsvInputError(f"{self.path}: a line longer than {MAX_LINE_CHARS} characters; "
                                f"not a FaceReader-style CSV/TSV export")
        if "\0" in line:
            raise CsvInputError(f"{self.path}: holds NUL bytes; not a text (CSV/TSV) file")
        return line

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _lines(self) -> Iterator[str]:
        yield from self._rest
        try:
            while line := self._readline():
                yield line
        except UnicodeDecodeError as error:
            raise CsvInputError(f"{self.path}: not UTF-8 text ({error})") from None

    def batches(self, batch_size: int = 65536) -> Iterator[CsvBatch]:
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        columns = self.emotion_columns
        tcol, fcol = cast(int, self.time_column), self.face_column   # __init__ refused a file without one
        needed = max(columns + [tcol] + ([fcol] if fcol is not None else [])) + 1
        stamps: list[Any] = []
        faces: list[Any] = []
        rows: list[Any] = []
        rejected: dict[str, int] = {}

        def flush():
            nonlocal stamps, faces, rows, rejected
            values = (np.array(rows, dtype=np.float32).reshape(len(rows), len(columns))
                      if rows else np.zeros((0, len(columns)), dtype=np.float32))
            batch = CsvBatch(np.array(stamps, dtype=np.int64), faces, values, rejected)
            stamps, faces, rows, rejected = [], [], [], {}
            return batch

        for cells in _rows(reader, self.path):
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) < needed:
                rejected["short_row"] = rejected.get("short_row", 0) + 1
                continue
            stamp = parse_time_ns(cells[tcol])
            if stamp is None or not 0 <= stamp <= MAX_TIME_NS:
                rejected["bad_time"] = rejected.get("bad_time", 0) + 1
                continue
            try:
                if self.decimal_comma:
                    values = [float(cells[i].replace(",", ".")) for i in columns]
                else:
                    values = [float(cells[i]) for i in columns]
            except ValueError:
                tokens = {cells[i].strip().upper() for i in columns}
                reason = ("fit_failed" if "FIT_FAILED" in tokens
                          else "find_failed" if "FIND_FAILED" in tokens else "not_a_number")
                rejected[reason] = rejected.get(reason, 0) + 1
                continue
            stamps.append(stamp)
            faces.append(cells[fcol].strip() if fcol is not None else "")
            rows.append(values)
            if len(rows) >= batch_size:
                yield flush()
        if rows or rejected:
            yield flush()
