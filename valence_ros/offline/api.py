"""valence_analyze as a Python library: typed options in, result objects (paths, DataFrames) out.

    from valence_ros.offline import StudyOptions, analyze_study
    result = analyze_study(["recordings/"], "study_out",
                           StudyOptions(design="design.csv", events="events.csv", jobs=2))
    result.conditions()          # pandas DataFrame of conditions.csv

``analyze_recording(input, out, AnalysisOptions())`` analyses one bag or
CSV export as ``valence_analyze INPUT`` does; ``analyze_study(inputs, out,
StudyOptions())`` a study as ``valence_analyze INPUT... [--design ...]``
does (in a script: under ``if __name__ == "__main__":``, as with any library
that starts worker processes). The command line (offline.analyze) parses its arguments into these
options and calls these functions: the files are the same either way.
Bad input raises AnalyzeError (one line); nothing is printed unless
``quiet=False``. pandas is needed only for the DataFrame accessors.

(The one-input function is not called ``analyze``: ``valence_ros.offline.analyze``
is the command line's module, and importing it would shadow a function of that name.)
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from valence_ros.offline.errors import AnalyzeError

if TYPE_CHECKING:
    import pandas as pd

    from valence_ros.core.input_files import StrPath

__all__ = ["AnalysisOptions", "StudyOptions", "RecordingResult", "StudyResult", "analyze_recording",
           "analyze_study", "load_params"]

DEFAULT_BATCH = 65536
WORKER_PREFIX = "valence_analyze-job"   # offline.study_pool's worker process names


@dataclass(frozen=True)
class AnalysisOptions:
    """What `valence_analyze INPUT` takes besides the input (field = command-line option)."""
    params_file: str | None = None        # the node's parameters file; None: the node's defaults
    node: str = "/valence_node"           # whose entry in params_file applies
    topic: tuple[str, ...] | None = None  # input topics (bags); None: every topic of the input type
    storage: str | None = None            # output bag: "sqlite3" | "mcap" | None (the input's)
    no_plots: bool = False
    overwrite: bool = False               # replace the output directory (once the new one is complete)
    quiet: bool = True                    # no progress bar and no printed table
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self):
        if isinstance(self.topic, str):
            object.__setattr__(self, "topic", (self.topic,))
        elif self.topic is not None:
            object.__setattr__(self, "topic", tuple(self.topic) or None)
        if not str(self.node).startswith("/"):
            raise AnalyzeError(f"--node {self.node!r}: give the fully qualified name, e.g. /valence_node")
        if self.storage not in (None, "sqlite3", "mcap"):
            raise AnalyzeError(f"--storage {self.storage!r}: expected sqlite3 or mcap")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise AnalyzeError("--batch-size must be at least 1")

    def worker_options(self) -> dict:
        """What a study's worker needs to analyse one input (plain data: it is pickled)."""
        return {f.name: getattr(self, f.name) for f in fields(AnalysisOptions)
                if f.name not in ("overwrite", "quiet")}


@dataclass(frozen=True)
class StudyOptions(AnalysisOptions):
    """What `valence_analyze INPUT...` (a study) takes besides the inputs."""
    jobs: int | None = None                  # worker processes; None: the cores this process may use
    design: str | Path | None = None         # design CSV/TSV (offline.design)
    design_from_path: str | None = None      # e.g. "{condition}/{participant}"
    allow_missing_design: bool = False       # sessions without a design row get empty design cells
    events: str | Path | None = None         # events CSV/TSV (offline.events)
    baseline_s: float = 5.0                  # baseline window before each event
    window_s: float = 5.0                    # event window when the file gives no end_s
    by: tuple[str, ...] = field(default=())  # conditions.csv factors; default: condition
    grid_s: float = 0.5                      # time-course and event-locked grid step

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.by, str):
            object.__setattr__(self, "by", (self.by,))
        else:
            object.__setattr__(self, "by", tuple(self.by or ()))
        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise AnalyzeError("--jobs must be at least 1")
        for name, low, high in (("baseline_s", 0.0, 3600.0), ("window_s", 1e-3, 86400.0),
                                ("grid_s", 1e-3, 3600.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not (low <= value <= high):
                raise AnalyzeError(f"--{name.replace('_', '-')} {value!r}: expected {low:g} to {high:g} seconds")
        if self.by and self.design is None and self.design_from_path is None:
            raise AnalyzeError("--by needs a design (--design or --design-from-path)")
        if self.allow_missing_design and self.design is None and self.design_from_path is None:
            raise AnalyzeError("--allow-missing-design needs a design (--design or --design-from-path)")


def load_params(path: StrPath | None, node_fqn: str) -> dict:
    """The node's parameters, read as the node reads the file; names the node would
    ignore are ignored here too, with the node's warning on stderr."""
    from valence_ros.core.input_files import InputFileError
    from valence_ros.core.parameters import ParameterError, load_params_file, validate_parameters
    from valence_ros.core.params_file import check_params_file
    from valence_ros.offline.program import PROG
    from valence_ros.process.cli_errors import error_line, one_line
    from valence_ros.offline.ros_distro import detect_ros_distro, rcl_rules_for
    try:
        if path is None:
            return validate_parameters({})
        check_params_file(path)   # a FIFO or device would block or never end
        unknown: list[str] = []
        # refuse exactly what this distro's rcl (the node's) refuses
        params = load_params_file(str(path), node_fqn=node_fqn, unknown=unknown,
                                  rules=rcl_rules_for(detect_ros_distro()))
    except InputFileError as error:
        raise AnalyzeError(str(error)) from None
    except ParameterError as error:
        raise AnalyzeError(f"{path}: {one_line(error)}") from None
    if unknown:
        print(error_line(PROG, f"ignoring unknown parameter(s) {', '.join(unknown)} in {path}", "warning"),
              file=sys.stderr)
    return params


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("the DataFrame accessors need pandas (pip install pandas pyarrow); "
                          "the result's paths work without it") from None
    return pandas


_TEXT_COLUMNS = ("session", "face_id", "label", "clock", "factor", "statistic", "level", "minus_level", "topic")


def _read_csv(path: Path, text_columns=()):
    """A table as written: names and design cells stay text (participant "007" is not the
    number 7) and read back without the apostrophe offline.csv_cells put before a formula."""
    from valence_ros.offline.csv_cells import original_text
    pd = _pandas()
    import csv
    with open(path, encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    text = [c for c in header if c in _TEXT_COLUMNS or c in text_columns]
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={c: str for c in text})
    for c in text:
        table[c] = table[c].map(lambda v: original_text(v) if isinstance(v, str) else v)
    return table


@dataclass(frozen=True)
class RecordingResult:
    """One input's analysis: its output directory and summary.json."""
    out: Path
    summary: dict

    @property
    def valence_csv(self) -> Path:
        return self.out / "valence.csv"

    @property
    def bag(self) -> Path:
        return self.out / "valence_bag"

    @property
    def plots(self) -> tuple[Path, ...]:
        return tuple(self.out / p for p in self.summary["outputs"]["plots"])

    def valence(self) -> pd.DataFrame:
        """valence.csv as a DataFrame."""
        return _read_csv(self.valence_csv)


@dataclass(frozen=True)
class StudyResult:
    """A study's output directory; ``study`` is study.json. Tables a run did not write are None."""
    out: Path
    study: dict

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(e["session"] for e in self.study["inputs"] if e["status"] != "ok")

    def path(self, kind: str) -> Path | None:
        """The output named `kind` in study.json's outputs (sessions, episodes, frames, events,
        conditions, timecourse, event_locked), or None."""
        name = self.study["outputs"].get(kind)
        return self.out / name if name else None

    @property
    def figures(self) -> tuple[Path, ...]:
        return tuple(self.out / p for p in self.study["outputs"].get("figures", ()))

    def _table(self, kind: str) -> pd.DataFrame | None:
        path = self.path(kind)
        return None if path is None else _read_csv(path, self.study.get("design", {}).get("columns", ()))

    def sessions(self) -> pd.DataFrame | None:
        return self._table("sessions")

    def episodes(self) -> pd.DataFrame | None:
        return self._table("episodes")

    def events(self) -> pd.DataFrame | None:
        return self._table("events")

    def conditions(self) -> pd.DataFrame | None:
        return self._table("conditions")

    def timecourse(self) -> pd.DataFrame | None:
        return self._table("timecourse")

    def event_locked(self) -> pd.DataFrame | None:
        return self._table("event_locked")

    def frames(self) -> pd.DataFrame:
        """frames.parquet as a DataFrame (session, design columns and face_id as categories)."""
        return _pandas().read_parquet(self.path("frames"))


def _check_single_input(path: Path, options: AnalysisOptions, out: Path) -> bool:
    """Checks before anything is opened; returns whether the input is a CSV export."""
    from valence_ros.core.input_files import InputFileError, check_input_path
    from valence_ros.offline.facereader_csv import CSV_SUFFIXES
    try:   # a bag directory or a regular file; FIFOs and devices are refused unopened
        check_input_path(path, "input")
    except InputFileError as error:
        raise AnalyzeError(str(error)) from None
    is_csv = path.is_file() and path.suffix.lower() in CSV_SUFFIXES
    if is_csv and options.topic:
        raise AnalyzeError("--topic applies to bags; a CSV export has no topics")
    resolved_in, resolved_out = path.resolve(), out.resolve()
    if resolved_out == resolved_in or resolved_out in resolved_in.parents or resolved_in in resolved_out.parents:
        raise AnalyzeError(f"{out}: the output directory must not contain or be inside the input")
    if out.exists() and not options.overwrite:   # fail fast; OutputDir checks again
        raise AnalyzeError(f"{out}: output directory exists (use --overwrite to replace it)")
    return is_csv


def default_out(input_path: Path) -> Path:
    name = input_path.resolve().name
    for suffix in (".db3", ".mcap", ".csv", ".tsv", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Path.cwd() / f"{name}_valence"


def analyze_recording(input_path: StrPath, out: StrPath | None = None,
                      options: AnalysisOptions | None = None,
                      params: dict | None = None) -> RecordingResult:
    """Analyse one bag or CSV export into `out` (default ./<input name>_valence), atomically.
    `params` (already validated node parameters) replaces reading options.params_file."""
    from valence_ros.offline.session import analyze_input
    options = options or AnalysisOptions()
    path = Path(input_path)
    out = Path(out) if out is not None else default_out(path)
    is_csv = _check_single_input(path, options, out)
    if params is None:
        params = load_params(options.params_file, options.node)
    summary = analyze_input(options, params, path, out, is_csv)
    return RecordingResult(out, summary)


def analyze_study(inputs: str | Path | Iterable[StrPath], out: StrPath | None = None,
                  options: StudyOptions | None = None,
                  params: dict | None = None) -> StudyResult:
    """Analyse several inputs (or folders searched for them) as a study into `out`
    (default ./valence_study); the design, events and condition tables when the options ask."""
    import multiprocessing
    from valence_ros.offline.study import run_study
    if multiprocessing.current_process().name.startswith(WORKER_PREFIX):
        # a worker process (spawned) re-imports the caller's script: without the guard it
        # would start a study of its own, and die
        raise AnalyzeError("analyze_study() runs worker processes, which import the calling script: "
                           "call it under `if __name__ == \"__main__\":` in a script")
    options = options or StudyOptions()
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if params is None:
        params = load_params(options.params_file, options.node)
    out_path = run_study(options, [Path(p) for p in inputs], Path(out) if out is not None else None, params)
    return StudyResult(out_path, json.loads((out_path / "study.json").read_text()))
