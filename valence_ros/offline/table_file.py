"""Small CSV/TSV files a researcher writes by hand or in a spreadsheet (--design, --events).

Read whole (bounded to MAX_TABLE_BYTES) after the path is checked to be a
regular file; UTF-8 with or without the BOM Excel writes; tab-separated when
the name ends in .tsv or the header line holds a tab, else comma-separated.
Cells are stripped of surrounding blanks; blank lines are skipped; every row
must have the header's number of cells (a spreadsheet's trailing empty
cells included), so a shifted row is an error naming its line, not a
misread value.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from valence_ros.core.input_files import InputFileError, MiB, read_regular_bytes
from valence_ros.offline.errors import AnalyzeError

if TYPE_CHECKING:
    from valence_ros.core.input_files import StrPath

__all__ = ["MAX_TABLE_BYTES", "TableFile", "read_table_file"]

MAX_TABLE_BYTES = 16 * MiB


@dataclass(frozen=True)
class TableFile:
    path: Path
    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]   # (line number, cells)

    def column(self, name: str) -> int | None:
        return self.columns.index(name) if name in self.columns else None


def read_table_file(path: StrPath, what: str, required: tuple[str, ...]) -> TableFile:
    """The table in `path` (`what`: "design file", "events file" for the messages)."""
    path = Path(path)
    try:
        data = read_regular_bytes(path, what, MAX_TABLE_BYTES)
    except InputFileError as error:
        raise AnalyzeError(str(error)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AnalyzeError(f"{path}: {what} is not UTF-8 text (byte {error.start}); "
                           "save it as CSV UTF-8") from None
    first = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise AnalyzeError(f"{path}: {what} line {reader.line_num}: {error}") from None
    records = [(line, [c.strip() for c in row]) for line, row in records if any(c.strip() for c in row)]
    if not records:
        raise AnalyzeError(f"{path}: {what} is empty (expected a header line with {', '.join(required)})")
    header_line, header = records[0]
    for i, name in enumerate(header):
        if not name:
            raise AnalyzeError(f"{path}: {what} column {i + 1} of the header has no name")
    seen = set()
    for name in header:
        if name in seen:
            raise AnalyzeError(f"{path}: {what} has two columns named {name!r}")
        seen.add(name)
    missing = [c for c in required if c not in header]
    if missing:
        sep = "tab" if delimiter == "\t" else "comma"
        raise AnalyzeError(f"{path}: {what} has no {', '.join(repr(c) for c in missing)} column "
                           f"(header, {sep}-separated: {', '.join(header)})")
    rows = []
    for line, row in records[1:]:
        if len(row) != len(header):
            raise AnalyzeError(f"{path}: {what} line {line} has {len(row)} cells; the header has {len(header)}")
        rows.append((line, tuple(row)))
    return TableFile(path, tuple(header), tuple(rows))
