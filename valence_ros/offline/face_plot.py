"""The per-face PNG of one analysis: valence over time, state bands, face-loss gaps.

State bands are explicit rectangles (broken_barh) with the legend's alpha:
pcolorfast, used before, draws a mesh with uneven x edges - any camera's
jittered stamps - through another path that ignored the alpha and painted
the bands opaque. An interval longer than face_timeout (FaceStats.gaps) is
drawn as a gap: no band, and a break in the lines. The legend sits outside
the axes, so it never covers the data.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, STATE_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from valence_ros.offline.report import FaceStats

__all__ = ["plot_face", "state_bands", "STATE_BAND_ALPHA", "STATE_COLORS"]

STATES = (NEGATIVE, NEUTRAL, POSITIVE)


STATE_COLORS = {NEGATIVE: "#d62728", NEUTRAL: "#bbbbbb", POSITIVE: "#2ca02c"}
STATE_BAND_ALPHA = 0.18


def state_bands(t: np.ndarray, state: np.ndarray, gaps: Iterable[tuple[float, float]]
                ) -> dict[int, list[tuple[float, float]]]:
    """(start, width) spans per state: point i's state holds from t[i] to t[i+1] (the last
    point: one median step); a face-loss gap (a, b) ends the span at a and none starts
    before b - the gap is nobody's time, as in the time shares."""
    n = len(t)
    if n == 0:
        return {}
    step = float(np.median(np.diff(t))) if n > 1 else 1.0
    end = np.append(t[1:], t[-1] + step)
    for a, b in gaps:
        i = int(np.searchsorted(t, b, side="left"))   # the first point after the gap
        if i > 0:
            end[i - 1] = min(end[i - 1], max(a, t[i - 1]))
    spans: dict[int, list[tuple[float, float]]] = {}
    i = 0
    while i < n:   # merge runs of one state without a break
        j = i
        while j + 1 < n and state[j + 1] == state[i] and end[j] >= t[j + 1]:
            j += 1
        if end[j] > t[i]:
            spans.setdefault(int(state[i]), []).append((float(t[i]), float(end[j] - t[i])))
        i = j + 1
    return spans


def _with_gaps(t: np.ndarray, columns: np.ndarray, gaps) -> tuple[np.ndarray, np.ndarray]:
    """The series with a NaN row before the first point after each gap (the line breaks there)."""
    if not gaps:
        return t, columns
    at = np.unique(np.searchsorted(t, [b for _, b in gaps], side="left"))
    at = at[(at > 0) & (at < len(t))]
    nan_t = (t[at - 1] + t[at]) / 2
    return (np.insert(t, at, nan_t), np.insert(columns, at, np.nan, axis=0))


def plot_face(stats: FaceStats, path: Path, thresholds: tuple[float, float]) -> Figure:
    """PNG of valence (and raw valence) over time from `stats` (report.FaceStats) with state
    bands and gaps where the face was lost for longer than face_timeout. Returns the Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    b = stats.series.buckets()
    t = b[:, 0]
    fig = Figure(figsize=(11, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if len(t):
        for state, spans in sorted(state_bands(t, b[:, 5], stats.gaps).items()):
            color = STATE_COLORS.get(state)
            if color is not None:
                ax.broken_barh(spans, (-1.05, 2.1), facecolors=color, alpha=STATE_BAND_ALPHA, linewidth=0,
                               zorder=0)
        tg, bg = _with_gaps(t, b, stats.gaps)
        if stats.series.stride > 1:
            ax.fill_between(tg, bg[:, 2], bg[:, 3], color="#1f77b4", alpha=0.25, linewidth=0,
                            label="valence min-max per point")
        ax.plot(tg, bg[:, 4], color="#7f7f7f", linewidth=0.6, alpha=0.8, label="raw_valence")
        ax.plot(tg, bg[:, 1], color="#1f77b4", linewidth=1.3, label="valence (smoothed)")
    ax.axhline(thresholds[0], color="#2ca02c", linestyle="--", linewidth=0.8)
    ax.axhline(thresholds[1], color="#d62728", linestyle="--", linewidth=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("time since the face's first frame (s, header stamps)")
    ax.set_ylabel("valence")
    name = stats.face_id if stats.face_id else "(no face_id)"
    note = f", 1 point = {stats.series.stride} frames" if stats.series.stride > 1 else ""
    lost = len(stats.gaps) + stats.gaps_not_kept
    note += f", face lost {lost}x (gaps)" if lost else ""
    ax.set_title(f"{stats.topic}  face {name}: {stats.frames} frames{note}")
    handles, labels = ax.get_legend_handles_labels()
    handles += [Patch(facecolor=STATE_COLORS[s], alpha=STATE_BAND_ALPHA) for s in STATES]
    labels += [STATE_NAMES[s] for s in STATES]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8,
              frameon=False)
    fig.subplots_adjust(left=0.07, right=0.82, top=0.91, bottom=0.12)  # no tight_layout: one draw
    fig.savefig(path, format="png")
    return fig
