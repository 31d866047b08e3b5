"""conditions.csv: valence per level of a design factor, and within-participant differences.

The unit is the session: a session's mean is the mean valence of all its
published frames (every face pooled). For each factor (--by; default
``condition``) and each of its levels:

* statistic ``session_means``: n_sessions, n_participants (distinct
  ``participant`` values, when the design has that column) and the mean,
  SD and t-based 95 % CI of the session means (offline.describe; n = the
  sessions);
* statistic ``paired_difference``, for every two levels A < B (sorted) when
  some participants have sessions in both: per participant, (mean of their
  session means in A) - (mean of theirs in B); n = those participants, and
  the mean, SD and 95 % CI of the differences.

Sessions whose cell for the factor is empty (no design row) are left out of
that factor's rows. Descriptive only: no tests, no p-values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence, cast

from valence_ros.offline.describe import describe
from valence_ros.offline.design import PARTICIPANT, Design
from valence_ros.offline.errors import AnalyzeError

__all__ = ["SessionMean", "CONDITION_COLUMNS", "condition_rows", "factors_of", "levels_of"]

CONDITION_COLUMNS = ("factor", "statistic", "level", "minus_level", "n_sessions", "n_participants", "n",
                     "mean", "sd", "ci95_low", "ci95_high")


@dataclass(frozen=True)
class SessionMean:
    session: str          # the study session (name, or name:topic)
    input_session: str    # the design's key
    frames: int
    valence_mean: float


def factors_of(design: Design, by: Sequence[str] | None) -> tuple[str, ...]:
    """The factors conditions.csv describes: `by`, else "condition", else every design column
    but participant."""
    if by:
        for name in by:
            if name not in design.columns:
                raise AnalyzeError(f"--by {name}: not a design column (columns: {', '.join(design.columns)})")
        return tuple(dict.fromkeys(by))
    if "condition" in design.columns:
        return ("condition",)
    return tuple(c for c in design.columns if c != PARTICIPANT)


def levels_of(means: list[SessionMean], design: Design, factor: str) -> dict[str, list[SessionMean]]:
    """level -> its sessions (in session order), levels sorted."""
    column = design.column(factor)
    out: dict[str, list[SessionMean]] = {}
    for m in means:
        level = column.get(m.input_session)
        if level is not None:
            out.setdefault(level, []).append(m)
    return dict(sorted(out.items()))


def _cells(d) -> list:
    return [d.n, d.mean, d.sd, d.ci_low, d.ci_high]


def condition_rows(means: list[SessionMean], design: Design, factors: Iterable[str]) -> list[list]:
    """conditions.csv rows (numbers unformatted; None: empty)."""
    participant = design.column(PARTICIPANT) if PARTICIPANT in design.columns else None
    rows = []
    for factor in factors:
        levels = levels_of(means, design, factor)
        for level, sessions in levels.items():
            people = ({participant[m.input_session] for m in sessions if m.input_session in participant}
                      if participant is not None else None)
            rows.append([factor, "session_means", level, "", len(sessions),
                         len(people) if people is not None else None,
                         *_cells(describe([m.valence_mean for m in sessions]))])
        if participant is None:
            continue
        per_person: dict[Any, dict[Any, list[float]]] = {}   # level -> participant -> their session means
        for level, sessions in levels.items():
            for m in sessions:
                who = participant.get(m.input_session)
                if who is not None:
                    per_person.setdefault(level, {}).setdefault(who, []).append(m.valence_mean)
        names = list(levels)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = sorted(set(per_person.get(a, {})) & set(per_person.get(b, {})))
                if not both:
                    continue
                # (each list holds at least one mean, so describe() gives one)
                diffs = [cast(float, describe(per_person[a][p]).mean) - cast(float, describe(per_person[b][p]).mean)
                         for p in both]
                n_sessions = sum(len(per_person[a][p]) + len(per_person[b][p]) for p in both)
                rows.append([factor, "paired_difference", a, b, n_sessions, len(both), *_cells(describe(diffs))])
    return rows
