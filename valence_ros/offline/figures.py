"""The study's figures (figures/*.png and *.svg), drawn from the tables offline.study_analysis writes.

* condition_means_<factor>: each session's mean valence per level (small
  grey points), the level's mean with its 95 % CI (black), and one thin line
  per participant through their means when participants appear in several
  levels;
* timecourse_<factor>: mean valence vs time since session start on the
  common grid, one line per level with its 95 % CI band;
* event_<label>[_<factor>]: valence from -baseline_s to the window's end
  around each onset of an event label (0 = onset), mean and 95 % CI band
  per level (or over all sessions without a design).

Readable in greyscale: levels differ by line style and marker, not only by
shade. Legends sit outside the axes. Files are byte-stable for the same
tables (fixed SVG id salt, no date in the metadata).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from valence_ros.offline.describe import describe
from valence_ros.offline.design import PARTICIPANT

if TYPE_CHECKING:
    from valence_ros.offline.study_analysis import StudyAnalysis

__all__ = ["study_figures", "STYLES"]

# (grey, line style, marker) per level: distinct in greyscale print
STYLES = (("0.0", "-", "o"), ("0.45", "--", "s"), ("0.2", ":", "^"), ("0.6", "-.", "D"),
          ("0.3", (0, (5, 1, 1, 1, 1, 1)), "v"), ("0.5", (0, (1, 3)), "P"))
_RC: dict[Any, Any] = {"svg.hashsalt": "valence_ros"}   # the same ids in every run


def _style(i: int):
    return STYLES[i % len(STYLES)]


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "x"


def _figure(width=7.0, height=4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, folder: Path, stem: str, taken: set) -> list[str]:
    import matplotlib
    name, k = _clean(stem), 2
    while name in taken:
        name, k = f"{_clean(stem)}_{k}", k + 1
    taken.add(name)
    with matplotlib.rc_context(_RC):
        fig.savefig(folder / f"{name}.png", format="png", metadata={"Software": None})
        fig.savefig(folder / f"{name}.svg", format="svg", metadata={"Date": None, "Creator": None})
    return [f"figures/{name}.png", f"figures/{name}.svg"]


def _condition_means(analysis, factor: str):
    from valence_ros.offline.conditions import levels_of
    levels = levels_of(analysis.means, analysis.design, factor)
    participant = (analysis.design.column(PARTICIPANT) if PARTICIPANT in analysis.design.columns else {})
    fig = _figure(max(4.0, 1.4 * len(levels) + 2.5), 4.2)
    ax = fig.add_subplot()
    person_means: dict[str, dict[int, list]] = {}
    for x, sessions in enumerate(levels.values()):
        values = [m.valence_mean for m in sessions]
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(x + 0.2 + offsets, values, s=14, color="0.55", marker=_style(x)[2], zorder=2,
                   label="session mean" if x == 0 else None)
        for m in sessions:
            who = participant.get(m.input_session)
            if who is not None:
                person_means.setdefault(who, {}).setdefault(x, []).append(m.valence_mean)
        d = describe(values)
        if d.ci_low is not None:
            mean, high = cast(float, d.mean), cast(float, d.ci_high)   # set whenever ci_low is
            ax.errorbar([x], [mean], yerr=[[mean - d.ci_low], [high - mean]], color="0.0",
                        capsize=5, linewidth=1.6, marker="_", markersize=16, zorder=3,
                        label="mean, 95 % CI" if x == 0 else None)
        else:
            ax.plot([x], [d.mean], color="0.0", marker="_", markersize=16, zorder=3)
    paired = [p for p in person_means.values() if len(p) > 1]
    for i, p in enumerate(sorted(paired, key=lambda p: sorted(p.items()))):
        xs = sorted(p)
        ax.plot(xs, [float(np.mean(p[x])) for x in xs], color="0.35", linewidth=0.7, alpha=0.8, zorder=1,
                label="one participant" if i == 0 else None)
    ax.set_xticks(range(len(levels)), list(levels))
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_xlabel(factor)
    ax.set_ylabel("session mean valence")
    ax.axhline(0.0, color="0.8", linewidth=0.6, zorder=0)
    ax.set_title(f"Valence by {factor} (n = {sum(len(s) for s in levels.values())} sessions)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    fig.subplots_adjust(left=0.14, right=0.68, bottom=0.14, top=0.9)
    return fig


def _bands(ax, curves: dict, keys, labels) -> None:
    for i, (key, label) in enumerate(zip(keys, labels)):
        t, n, mean, lo, hi = curves[key]
        grey, dash, _ = _style(i)
        ax.fill_between(t, lo, hi, color=grey, alpha=0.18, linewidth=0)
        ax.plot(t, mean, color=grey, linestyle=dash, linewidth=1.4, label=f"{label} (n = {int(n.max())})")


def _timecourse(curves, factor: str, grid_s: float):
    keys = sorted(k for k in curves if k[0] == factor)
    fig = _figure(8.0, 4.0)
    ax = fig.add_subplot()
    _bands(ax, curves, keys, [k[1] for k in keys])
    ax.axhline(0.0, color="0.8", linewidth=0.6, zorder=0)
    ax.set_xlabel(f"time since session start (s; {grid_s:g} s bins)")
    ax.set_ylabel("mean valence (95 % CI band)")
    ax.set_title(f"Valence over time by {factor}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, title=factor)
    fig.subplots_adjust(left=0.09, right=0.74, bottom=0.13, top=0.9)
    return fig


def _event_locked(curves, label: str, factor: str, baseline_s: float):
    keys = sorted(k for k in curves if k[0] == label and k[1] == factor)
    fig = _figure(8.0, 4.0)
    ax = fig.add_subplot()
    ax.axvspan(-baseline_s, 0.0, color="0.92", linewidth=0, zorder=0, label="baseline")
    _bands(ax, curves, keys, [k[2] if factor else "all sessions" for k in keys])
    ax.axvline(0.0, color="0.0", linewidth=0.8)
    ax.axhline(0.0, color="0.8", linewidth=0.6, zorder=0)
    ax.set_xlabel(f"time since the onset of {label!r} (s)")
    ax.set_ylabel("mean valence (95 % CI band)")
    ax.set_title(f"Event-locked valence: {label}" + (f" by {factor}" if factor else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
              title=factor or None)
    fig.subplots_adjust(left=0.09, right=0.74, bottom=0.13, top=0.9)
    return fig


def study_figures(folder: Path, analysis: StudyAnalysis, data: dict) -> list[str]:
    """Draw every figure the study's tables allow into `folder`; their relative paths."""
    folder.mkdir()
    taken: set[str] = set()
    written: list[str] = []
    if analysis.design is not None:
        from valence_ros.offline.conditions import levels_of
        for factor in analysis.factors:
            if levels_of(analysis.means, analysis.design, factor):   # no session analysed: no figure
                written += _save(_condition_means(analysis, factor), folder, f"condition_means_{factor}", taken)
        curves = data.get("timecourse", {})
        for factor in analysis.factors:
            if any(k[0] == factor for k in curves):
                written += _save(_timecourse(curves, factor, analysis.settings.grid_s), folder,
                                 f"timecourse_{factor}", taken)
    curves = data.get("event_locked", {})
    for label in sorted({k[0] for k in curves}):
        for factor in sorted({k[1] for k in curves if k[0] == label}):
            stem = f"event_{label}" + (f"_{factor}" if factor else "")
            written += _save(_event_locked(curves, label, factor, analysis.settings.baseline_s), folder, stem, taken)
    return written
