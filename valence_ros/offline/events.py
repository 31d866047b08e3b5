"""Events (--events FILE): what valence did inside a time window and in the baseline before it.

The file (CSV/TSV, offline.table_file) has the columns ``session, label,
start_s`` and optionally ``end_s`` and ``clock``. ``session`` names a study
session (``name`` or ``name:topic``; a bare name applies to every topic of
that input). ``clock`` is ``relative`` (the default: seconds from the
session's first published frame, any face) or ``absolute`` (seconds since
the epoch, the header stamps' clock, e.g. 1700000012.5). Without ``end_s``
the window lasts window_s. Times are parsed as decimals into integer
nanoseconds (no float rounding of absolute stamps).

events.csv has one row per session x face x event: the window
[start, end) and the baseline [start - baseline_s, start), each with its
frames, covered time, mean/min/max valence and share of time per state, and
their changes (window - baseline). Time shares count each interval between
two consecutive frames of the face for the state of its first frame,
clipped to the window; intervals longer than face_timeout are not counted
(the face was gone), exactly as summary.json's shares. A window with time
but no frame inside (one interval spans it) has shares but no valence; a
window nobody covered has empty cells. Windows may overlap and may reach
past the session's edges: each is computed on its own, on what is there.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE
from valence_ros.offline.errors import AnalyzeError
from valence_ros.offline.table_file import read_table_file

if TYPE_CHECKING:
    from valence_ros.core.input_files import StrPath

__all__ = ["Event", "load_events", "events_of", "window_stats", "WindowStats", "EVENT_COLUMNS",
           "CLOCKS", "MAX_EVENTS", "event_row"]

CLOCKS = ("relative", "absolute")
MAX_EVENTS = 100_000   # rows of events.csv grow with events x faces; more is a mistake, not a study
_STATES = (NEGATIVE, NEUTRAL, POSITIVE)
_MEASURES = ("frames", "covered_s", "valence_mean", "valence_min", "valence_max",
             "share_negative", "share_neutral", "share_positive")
_CHANGES = ("valence_mean", "share_negative", "share_neutral", "share_positive")
EVENT_COLUMNS = (
    ("session", "face_id", "event", "label", "clock", "start_s", "end_s", "start_ns", "end_ns",
     "baseline_start_ns")
    + _MEASURES + tuple(f"baseline_{m}" for m in _MEASURES) + tuple(f"change_{m}" for m in _CHANGES))


@dataclass(frozen=True)
class Event:
    session: str      # as given in the file
    number: int       # 1, 2, ... in file order among the rows naming this session
    label: str
    clock: str        # "relative" or "absolute"
    start_ns: int     # relative: from the session's first frame; absolute: a header stamp
    end_ns: int | None   # None: start + window_s

    def window(self, session_start_ns: int, window_ns: int) -> tuple[int, int]:
        """[start, end) as header stamps."""
        start = self.start_ns + (session_start_ns if self.clock == "relative" else 0)
        end = (self.end_ns + (session_start_ns if self.clock == "relative" else 0)
               if self.end_ns is not None else start + window_ns)
        return start, end


def _ns(text: str, path, line: int, column: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AnalyzeError(f"{path}: events file line {line}: {column} {text!r} is not a number of seconds") from None
    if not value.is_finite():
        raise AnalyzeError(f"{path}: events file line {line}: {column} {text!r} is not a finite number")
    if abs(value) > Decimal(10) ** 11:   # beyond year 5000: a typo, and int64 ns would overflow
        raise AnalyzeError(f"{path}: events file line {line}: {column} {text!r} is out of range")
    return int(value * 1_000_000_000)


def _known(name: str, sessions: set[str]) -> bool:
    return name in sessions or name.split(":", 1)[0] in sessions and ":" in name


def load_events(path: StrPath, input_sessions: Iterable[str]) -> list[Event]:
    """The events in `path`; each must name one of `input_sessions` (or one of its topics)."""
    table = read_table_file(path, "events file", ("session", "label", "start_s"))
    # session, label and start_s are required columns, so their indices are never None
    col: dict[str, Any] = {name: table.column(name) for name in ("session", "label", "start_s", "end_s", "clock")}
    sessions = set(input_sessions)
    numbers: dict[str, int] = {}
    events, unknown = [], []
    if len(table.rows) > MAX_EVENTS:
        raise AnalyzeError(f"{path}: events file has {len(table.rows)} events; the limit is {MAX_EVENTS}")
    for line, cells in table.rows:
        session, label = cells[col["session"]], cells[col["label"]]
        if not session or not label:
            raise AnalyzeError(f"{path}: events file line {line}: empty {'session' if not session else 'label'}")
        if not _known(session, sessions):
            unknown.append(f"{session!r} (line {line})")
            continue
        clock = cells[col["clock"]] if col["clock"] is not None else ""
        clock = clock or "relative"
        if clock not in CLOCKS:
            raise AnalyzeError(f"{path}: events file line {line}: clock {clock!r}; expected relative or absolute")
        start = _ns(cells[col["start_s"]], path, line, "start_s")
        end_text = cells[col["end_s"]] if col["end_s"] is not None else ""
        end = _ns(end_text, path, line, "end_s") if end_text else None
        if end is not None and end <= start:
            raise AnalyzeError(f"{path}: events file line {line}: end_s {end_text} is not after start_s "
                               f"{cells[col['start_s']]}")
        numbers[session] = numbers.get(session, 0) + 1
        events.append(Event(session, numbers[session], label, clock, start, end))
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        raise AnalyzeError(f"{path}: events for sessions that are not in the study: {shown}")
    return events


def events_of(events: list[Event], session: str, input_session: str) -> list[Event]:
    """The events of study session `session` (an input's name, or name:topic for one of several topics)."""
    return [e for e in events if e.session == session or e.session == input_session]


@dataclass(frozen=True)
class WindowStats:
    frames: int
    covered_s: float
    valence_mean: float | None
    valence_min: float | None
    valence_max: float | None
    shares: tuple | None     # (negative, neutral, positive) or None

    def cells(self) -> list:
        shares = self.shares if self.shares is not None else (None, None, None)
        return [self.frames, self.covered_s, self.valence_mean, self.valence_min, self.valence_max, *shares]


def window_stats(stamp_ns: np.ndarray, valence: np.ndarray, state: np.ndarray, start_ns: int, end_ns: int,
                 gap_ns: int) -> WindowStats:
    """One face's frames (sorted by stamp) inside [start_ns, end_ns)."""
    lo = int(np.searchsorted(stamp_ns, start_ns, side="left"))
    hi = int(np.searchsorted(stamp_ns, end_ns, side="left"))
    v = np.asarray(valence[lo:hi], dtype=np.float64)
    # intervals [t_i, t_i+1) that may overlap the window: from the frame before it to the last inside
    a = max(lo - 1, 0)
    t = np.asarray(stamp_ns[a:hi + 1], dtype=np.int64)
    s = np.asarray(state[a:hi + 1], dtype=np.int64)
    state_ns = np.zeros(3, dtype=np.int64)
    if len(t) > 1:
        dt = np.diff(t)
        overlap = np.minimum(t[1:], end_ns) - np.maximum(t[:-1], start_ns)
        counted = (dt > 0) & (dt <= gap_ns) & (overlap > 0) & (np.abs(s[:-1]) <= 1)
        state_ns = np.bincount(s[:-1][counted] + 1, weights=overlap[counted], minlength=3).astype(np.int64)
    covered = int(state_ns.sum())
    if covered > 0:
        shares = tuple(float(x) for x in state_ns / covered)
    elif len(v):   # frames but no time between them inside: count frames, as summary.json does
        counts = np.bincount(np.asarray(state[lo:hi], dtype=np.int64) + 1, minlength=3)[:3]
        shares = tuple(float(x) for x in counts / len(v))
    else:
        shares = None
    if not len(v):
        return WindowStats(0, covered * 1e-9, None, None, None, shares)
    return WindowStats(len(v), covered * 1e-9, float(v.mean()), float(v.min()), float(v.max()), shares)


def event_row(session: str, face: str, event: Event, session_start_ns: int, window: tuple[int, int],
              baseline_start_ns: int, inside: WindowStats, before: WindowStats) -> list:
    """The events.csv cells of one session x face x event (numbers unformatted; None: empty)."""
    start, end = window
    change: list[float | None] = [None] * len(_CHANGES)
    if inside.valence_mean is not None and before.valence_mean is not None:
        change[0] = inside.valence_mean - before.valence_mean
    if inside.shares is not None and before.shares is not None:
        change[1:] = [x - y for x, y in zip(inside.shares, before.shares)]
    return [session, face, event.number, event.label, event.clock, (start - session_start_ns) * 1e-9,
            (end - session_start_ns) * 1e-9, start, end, baseline_start_ns,
            *inside.cells(), *before.cells(), *change]
