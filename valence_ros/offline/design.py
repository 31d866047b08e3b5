"""A study's design: the condition, participant, group... of each session.

Two sources, which can be combined (their column names must differ):

* ``--design FILE``: a CSV/TSV (offline.table_file) with a ``session``
  column naming the study's sessions (the input names valence_analyze
  prints; an input recorded with several topics is one design row for all
  its ``name:topic`` sessions), then any columns: participant, condition,
  group, order...
* ``--design-from-path PATTERN``: ``{field}`` placeholders matched against
  the trailing components of each input's path, without its suffix
  (``{condition}/{participant}`` takes ``recordings/A/p01.mcap`` to
  condition A, participant p01); ``*`` matches any text within one
  component.

Errors name what is wrong: a design row naming no session, two rows for one
session, a session without a row (listed; an error unless
allow_missing, then its design cells are empty), a pattern that matches no
input. The columns are joined into sessions.csv, episodes.csv and
frames.parquet right after ``session``, and name the factors of
conditions.csv (offline.conditions).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, cast

from valence_ros.offline.errors import AnalyzeError, printable
from valence_ros.offline.table_file import read_table_file

if TYPE_CHECKING:
    from valence_ros.core.input_files import StrPath
    from valence_ros.offline.study_inputs import StudyInput

__all__ = ["Design", "load_design", "RESERVED_COLUMNS", "PARTICIPANT"]

PARTICIPANT = "participant"   # the column that pairs sessions in conditions.csv
# Columns of the tables the design is joined into: a design column must not shadow one.
RESERVED_COLUMNS = frozenset({
    "session", "face_id", "frames", "duration_s", "stamp_ns", "valence", "raw_valence", "state",
    "start_ns", "end_ns", "label", "event", "clock", "start_s", "end_s", "topic"})
_FIELD = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LISTED = 8   # sessions named in one error message


@dataclass(frozen=True)
class Design:
    columns: tuple[str, ...]
    values: dict            # input session -> tuple of cells (sessions without a row: absent)
    missing: tuple[str, ...] = ()   # sessions without a row (allowed by allow_missing)

    def row(self, session: str) -> tuple[str, ...]:
        return self.values.get(session, ("",) * len(self.columns))

    def column(self, name: str) -> dict:
        """input session -> the value in column `name` (empty cells and missing sessions left out)."""
        i = self.columns.index(name)
        return {s: v[i] for s, v in self.values.items() if v[i] != ""}


def _listing(names) -> str:
    names = list(names)
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _check_columns(columns, source: str) -> None:
    for name in columns:
        if name in RESERVED_COLUMNS:
            raise AnalyzeError(f"{source}: column {name!r} would shadow the study tables' own {name!r} "
                               "column; rename it")


def _from_file(path: Path, sessions: list[str]) -> tuple[tuple[str, ...], dict]:
    table = read_table_file(path, "design file", ("session",))
    key = cast(int, table.column("session"))   # a required column
    columns = tuple(c for i, c in enumerate(table.columns) if i != key)
    _check_columns(columns, f"{path}")
    known = set(sessions)
    values: dict[str, Any] = {}
    line_of: dict[str, Any] = {}
    unknown: list[str] = []
    for line, cells in table.rows:
        session = cells[key]
        if not session:
            raise AnalyzeError(f"{path}: design file line {line} has an empty session cell")
        if session in line_of:
            raise AnalyzeError(f"{path}: design file lines {line_of[session]} and {line} both describe "
                               f"session {session!r} (one row per session)")
        line_of[session] = line
        if session not in known:
            unknown.append(f"{session!r} (line {line})")
            continue
        values[session] = tuple(c for i, c in enumerate(cells) if i != key)
    if unknown:
        raise AnalyzeError(f"{path}: design rows that match no session of the study: {_listing(unknown)}; "
                           f"the sessions are {_listing(sessions)}")
    return columns, values


def _pattern_regex(given: str) -> tuple[tuple[str, ...], re.Pattern]:
    pattern = given.strip("/")
    leftover = _FIELD.sub("", pattern)
    if "{" in leftover or "}" in leftover:
        raise AnalyzeError(f"--design-from-path {given!r}: unbalanced braces")
    fields: list[str] = []
    parts, end = [], 0
    for m in _FIELD.finditer(pattern):
        parts.append(re.escape(pattern[end:m.start()]).replace(r"\*", "[^/]*"))
        name = m.group(1)
        if not _NAME.match(name):
            raise AnalyzeError(f"--design-from-path {given!r}: {{{name}}} is not a field name "
                               "(letters, digits, _; e.g. {condition}/{participant})")
        if name in fields:
            parts.append(f"(?P={name})")
        else:
            fields.append(name)
            parts.append(f"(?P<{name}>[^/]+)")
        end = m.end()
    parts.append(re.escape(pattern[end:]).replace(r"\*", "[^/]*"))
    if not fields:
        raise AnalyzeError(f"--design-from-path {given!r} has no {{field}} (e.g. {{condition}}/{{participant}})")
    _check_columns(fields, f"--design-from-path {given!r}")
    return tuple(fields), re.compile(r"(?:^|/)" + "".join(parts) + r"\Z")


def _strip_suffix(path: Path) -> str:
    from valence_ros.offline.study_inputs import BAG_SUFFIXES, CSV_SUFFIXES
    text = path.as_posix().rstrip("/")
    for suffix in BAG_SUFFIXES + CSV_SUFFIXES:
        if text.lower().endswith(suffix):
            return text[: -len(suffix)]
    return text


def _from_path(pattern: str, inputs) -> tuple[tuple[str, ...], dict, list]:
    fields, regex = _pattern_regex(pattern)
    values, unmatched = {}, []
    for item in inputs:
        m = regex.search(_strip_suffix(item.path))
        if m is None:
            unmatched.append(item.session)
        else:
            values[item.session] = tuple(printable(m.group(f)) for f in fields)   # as session names are
    if not values:
        raise AnalyzeError(f"--design-from-path {pattern!r} matches none of the inputs' paths "
                           f"(e.g. {printable(_strip_suffix(inputs[0].path))}); the pattern is matched against "
                           "the last components of each path, without the suffix")
    return fields, values, unmatched


def load_design(inputs: Sequence[StudyInput], design_file: StrPath | None = None, from_path: str | None = None,
                allow_missing: bool = False) -> Design | None:
    """The design of the study's `inputs` (offline.study_inputs.StudyInput), or None without either source."""
    if design_file is None and from_path is None:
        return None
    sessions = [item.session for item in inputs]
    columns: tuple[str, ...] = ()
    parts = []
    unmatched: list[str] = []
    if from_path is not None:
        fields, values, unmatched = _from_path(from_path, inputs)
        columns += fields
        parts.append((fields, values))
    if design_file is not None:
        file_columns, values = _from_file(Path(design_file), sessions)
        clash = [c for c in file_columns if c in columns]
        if clash:
            raise AnalyzeError(f"{design_file}: column(s) {', '.join(clash)} also come from --design-from-path; "
                               "give each column once")
        columns += file_columns
        parts.append((file_columns, values))
    merged, missing = {}, []
    for session in sessions:
        have = [values.get(session) for _, values in parts]
        if any(v is None for v in have):
            missing.append(session)
        if all(v is None for v in have):
            continue
        merged[session] = sum((v if v is not None else ("",) * len(f) for (f, _), v in zip(parts, have)), ())
    if missing and not allow_missing:
        why = []
        if unmatched:
            why.append(f"not matched by --design-from-path {from_path!r}: {_listing(unmatched)}")
        no_row = [s for s in missing if design_file is not None and s not in parts[-1][1]]
        if no_row:
            why.append(f"without a row in {design_file}: {_listing(no_row)}")
        raise AnalyzeError(f"sessions without a design ({'; '.join(why)}); add them, or pass "
                           "--allow-missing-design to leave their design cells empty")
    return Design(columns, merged, tuple(missing))
