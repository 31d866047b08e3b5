"""The study's answers, computed from frames.parquet once every session is merged:
events.csv, conditions.csv, timecourse.csv, event_locked.csv and the figures.

Runs in the parent after the merge, over frames.parquet in its (session,
face, stamp) order, so everything here is the same whatever --jobs was.
Memory holds one session's frames at a time (about 17 bytes per frame) plus
each session's time-course grid (8 bytes per grid point).

Written only when asked for: with a design (conditions.csv, timecourse.csv,
figures/), with events (events.csv, event_locked.csv, figures/). A study
with neither writes nothing here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from valence_ros.offline.conditions import CONDITION_COLUMNS, SessionMean, condition_rows, factors_of, levels_of
from valence_ros.offline.describe import describe_columns
from valence_ros.offline.events import EVENT_COLUMNS, event_row, events_of, window_stats
from valence_ros.offline.csv_cells import csv_bytes
from valence_ros.offline.study_tables import number_cell, with_design
from valence_ros.offline.timecourse import MAX_GRID_POINTS, bin_means, bin_sums

__all__ = ["StudyAnalysis", "AnalysisSettings", "TIMECOURSE_COLUMNS", "EVENT_LOCKED_COLUMNS", "iter_sessions"]

TIMECOURSE_COLUMNS = ("factor", "level", "t_s", "n_sessions", "mean", "sd", "ci95_low", "ci95_high")
EVENT_LOCKED_COLUMNS = ("factor", "level", "label", "t_s", "n_sessions", "mean", "sd", "ci95_low", "ci95_high")
_READ_ROWS = 1 << 16
ALL = ""   # factor and level of the one group without a design


@dataclass(frozen=True)
class AnalysisSettings:
    baseline_s: float
    window_s: float
    grid_s: float
    gap_ns: int        # face_timeout: longer intervals between frames are not time in a state
    by: tuple = ()


@dataclass
class _Session:
    name: str
    input_session: str
    start_ns: int
    faces: dict        # face -> (stamp_ns, valence, state), sorted by stamp


def _cells(row) -> list:
    out = []
    for value in row:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append("")
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            out.append(str(int(value)))
        elif isinstance(value, (float, np.floating)):
            out.append(number_cell(float(value)))
        else:
            out.append(value)
    return out


def iter_sessions(path: Path, input_of: dict) -> Iterator[_Session]:
    """_Session per study session in frames.parquet, in table order (one in memory at a time)."""
    import pyarrow.parquet as pq
    columns = ["session", "face_id", "stamp_ns", "valence", "state"]
    pending: list = []
    current = None

    def emit(name, parts):
        face = np.concatenate([p[0] for p in parts])
        stamp, valence, state = (np.concatenate([p[k] for p in parts]) for k in (1, 2, 3))
        cuts = [0, *(np.flatnonzero(face[1:] != face[:-1]) + 1).tolist(), len(face)]
        faces = {str(face[a]): (stamp[a:b], valence[a:b], state[a:b]) for a, b in zip(cuts[:-1], cuts[1:])}
        return _Session(name, input_of.get(name, name.split(":", 1)[0]), int(stamp.min()), faces)

    with pq.ParquetFile(str(path)) as file:
        for batch in file.iter_batches(batch_size=_READ_ROWS, columns=columns):
            session = batch.column(0).to_numpy(zero_copy_only=False)
            face = batch.column(1).to_numpy(zero_copy_only=False)
            stamp = batch.column(2).to_numpy()
            valence = batch.column(3).to_numpy()
            state = batch.column(4).to_numpy()
            cuts = [0, *(np.flatnonzero(session[1:] != session[:-1]) + 1).tolist(), len(session)]
            for a, b in zip(cuts[:-1], cuts[1:]):
                name = str(session[a])
                if name != current and pending:
                    yield emit(current, pending)
                    pending = []
                current = name
                pending.append((face[a:b], stamp[a:b], valence[a:b], state[a:b]))
    if pending:
        yield emit(current, pending)


def _across(curves: list[np.ndarray]):
    """n, mean, sd, ci_low, ci_high per grid point across `curves` (NaN: no value; shorter
    curves end early)."""
    matrix = np.full((len(curves), max(len(c) for c in curves)), np.nan)
    for i, c in enumerate(curves):
        matrix[i, :len(c)] = c
    return describe_columns(matrix)


class StudyAnalysis:
    """Everything computed after the merge; write() puts the files into the study's directory."""

    def __init__(self, settings: AnalysisSettings, design=None, events=None):
        self.settings = settings
        self.design = design
        self.events = events
        self.factors = factors_of(design, settings.by) if design is not None else ()
        self.grid_ns = int(round(settings.grid_s * 1e9))
        self.window_ns = int(round(settings.window_s * 1e9))
        self.baseline_ns = int(round(settings.baseline_s * 1e9))
        self.means: list[SessionMean] = []
        self.event_rows: list[list] = []
        self.timecourses: dict[str, np.ndarray] = {}                  # session -> grid
        self.locked: dict[tuple[str, str], np.ndarray] = {}           # (session, label) -> grid
        self.notes: list[str] = []
        self.seconds = 0.0   # set by the caller (study.json)
        self._events_used: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ per session

    def add(self, s: _Session) -> None:
        stamps = np.concatenate([f[0] for f in s.faces.values()])
        values = np.concatenate([f[1] for f in s.faces.values()]).astype(np.float64)
        order = np.argsort(stamps, kind="stable")   # every face in time order: events slice it
        stamps, values = stamps[order], values[order]
        self.means.append(SessionMean(s.name, s.input_session, len(values), float(values.mean())))
        if self.design is not None:
            span = int(stamps.max()) - s.start_ns
            bins = span // self.grid_ns + 1
            if bins > MAX_GRID_POINTS:
                self.notes.append(f"session {s.name}: time course cut at {MAX_GRID_POINTS} grid points")
                bins = MAX_GRID_POINTS
            self.timecourses[s.name] = bin_means(stamps, values, s.start_ns, self.grid_ns, bins)
        if self.events:
            self._events(s, stamps, values)

    def _events(self, s: _Session, stamps, values) -> None:
        mine = events_of(self.events, s.name, s.input_session)
        self._events_used.update((e.session, e.number) for e in mine)
        design = list(self.design.row(s.input_session)) if self.design is not None else []
        for face, (stamp, valence, state) in s.faces.items():
            for event in mine:
                start, end = event.window(s.start_ns, self.window_ns)
                base = start - self.baseline_ns
                row = event_row(s.name, face, event, s.start_ns, (start, end), base,
                                window_stats(stamp, valence, state, start, end, self.settings.gap_ns),
                                window_stats(stamp, valence, state, base, start, self.settings.gap_ns))
                self.event_rows.append([row[0], *design, *row[1:]])
        occurrences: dict[str, list] = {}
        for event in mine:   # event-locked: every face pooled, occurrences of a label averaged
            start, end = event.window(s.start_ns, self.window_ns)
            nb = self._baseline_bins()
            bins = nb + max(1, -(-(end - start) // self.grid_ns))
            if bins > MAX_GRID_POINTS:
                bins = MAX_GRID_POINTS
            first = start - nb * self.grid_ns
            lo, hi = np.searchsorted(stamps, [first, first + bins * self.grid_ns])
            sums, counts = bin_sums(stamps[lo:hi], values[lo:hi], first, self.grid_ns, bins)
            occurrences.setdefault(event.label, []).append((sums, counts))
        for label, parts in occurrences.items():
            curves = []
            for sums, counts in parts:
                curve = np.full(len(sums), np.nan)
                curve[counts > 0] = sums[counts > 0] / counts[counts > 0]
                curves.append(curve)
            self.locked[(s.name, label)] = _across(curves)[1]   # the session's mean over occurrences

    def _baseline_bins(self) -> int:
        return -(-self.baseline_ns // self.grid_ns)

    # ------------------------------------------------------------------ study level

    def _groups(self) -> list[tuple[str, str, list[str]]]:
        """(factor, level, its sessions) for every factor level; one group of all sessions without a design."""
        if self.design is None:
            return [(ALL, ALL, [m.session for m in self.means])]
        out = []
        for factor in self.factors:
            for level, sessions in levels_of(self.means, self.design, factor).items():
                out.append((factor, level, [m.session for m in sessions]))
        return out

    def timecourse_rows(self) -> tuple[list[list], dict]:
        rows, curves = [], {}
        for factor, level, sessions in self._groups():
            grids = [self.timecourses[s] for s in sessions if s in self.timecourses]
            if not grids:
                continue
            n, mean, sd, lo, hi = _across(grids)
            t = np.arange(len(mean)) * self.settings.grid_s
            curves[(factor, level)] = (t, n, mean, lo, hi)
            for k in np.flatnonzero(n > 0):
                rows.append([factor, level, float(t[k]), int(n[k]), mean[k], sd[k], lo[k], hi[k]])
        return rows, curves

    def event_locked_rows(self) -> tuple[list[list], dict]:
        rows, curves = [], {}
        labels = sorted({label for _, label in self.locked})
        nb = self._baseline_bins()
        for label in labels:
            for factor, level, sessions in self._groups():
                grids = [self.locked[(s, label)] for s in sessions if (s, label) in self.locked]
                if not grids:
                    continue
                n, mean, sd, lo, hi = _across(grids)
                t = (np.arange(len(mean)) - nb) * self.settings.grid_s
                curves[(label, factor, level)] = (t, n, mean, lo, hi)
                for k in np.flatnonzero(n > 0):
                    rows.append([factor, level, label, float(t[k]), int(n[k]), mean[k], sd[k], lo[k], hi[k]])
        return rows, curves

    def write(self, out: Path, plots: bool) -> dict:
        """The files into `out`; their names (relative) by kind, for study.json."""
        written: dict[str, Any] = {}
        columns = self.design.columns if self.design is not None else ()
        figures_data = {}
        if self.design is not None:
            rows = condition_rows(self.means, self.design, self.factors)
            (out / "conditions.csv").write_bytes(csv_bytes([_cells(r) for r in rows], CONDITION_COLUMNS))
            written["conditions"] = "conditions.csv"
            rows, curves = self.timecourse_rows()
            (out / "timecourse.csv").write_bytes(csv_bytes([_cells(r) for r in rows], TIMECOURSE_COLUMNS))
            written["timecourse"] = "timecourse.csv"
            figures_data["timecourse"] = curves
        if self.events is not None:
            unused = [f"{e.session} #{e.number} ({e.label})" for e in self.events
                      if (e.session, e.number) not in self._events_used]
            if unused:   # a failed input, or name:topic for an input with one topic
                shown = ", ".join(unused[:8]) + (f" and {len(unused) - 8} more" if len(unused) > 8 else "")
                self.notes.append(f"events with no analysed session (no rows in events.csv): {shown}")
            self.event_rows.sort(key=lambda r: (r[0], r[1 + len(columns)], r[2 + len(columns)]))
            (out / "events.csv").write_bytes(csv_bytes([_cells(r) for r in self.event_rows],
                                                       with_design(EVENT_COLUMNS, columns)))
            written["events"] = "events.csv"
            rows, curves = self.event_locked_rows()
            (out / "event_locked.csv").write_bytes(csv_bytes([_cells(r) for r in rows], EVENT_LOCKED_COLUMNS))
            written["event_locked"] = "event_locked.csv"
            figures_data["event_locked"] = curves
        if plots and (self.design is not None or self.events is not None):
            from valence_ros.offline.figures import study_figures
            written["figures"] = study_figures(out / "figures", self, figures_data)
        return written
